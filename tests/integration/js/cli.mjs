// Shared by the Node runners: `--key value` / `--key=value` arguments, and sleep.

export function parseArgs(argv){
  const opts = {}
  for(let i = 0; i < argv.length; i++){
    const arg = argv[i]
    if(!arg.startsWith("--")){ throw new Error(`unexpected argument ${JSON.stringify(arg)}`) }
    const eq = arg.indexOf("=")
    if(eq !== -1){
      opts[arg.slice(2, eq)] = arg.slice(eq + 1)
    } else {
      if(i + 1 >= argv.length){ throw new Error(`missing value for ${arg}`) }
      opts[arg.slice(2)] = argv[++i]
    }
  }
  return opts
}

export const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
