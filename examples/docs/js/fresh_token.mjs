// docs/authentication.md: a fresh token at every (re)connection, for
// examples/docs/authentication.py. The page's sign-in keeps the access token
// in localStorage, and refreshes it there before it expires.
import {Socket} from "phoenix"

const currentAccessToken = () => localStorage.getItem("access_token")

const socket = new Socket("/socket", {params: () => ({token: currentAccessToken()})})
// or, with the authToken option: {authToken: () => currentAccessToken()}
socket.connect()
socket.channel("room:lobby", {}).join()
  .receive("ok", resp => console.log(resp))  // {user_id: "42"}
