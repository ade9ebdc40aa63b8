// The chat's LiveView pages (live_pages.py): served at /lv-assets/app.js, after the
// phoenix and phoenix_live_view builds of node_modules (which define window.Phoenix and
// window.LiveView). Everything else the pages do is the LiveView client's own bindings;
// the two hooks are what only the browser knows about.
(function () {
  "use strict"
  var csrfToken = document.querySelector("meta[name='csrf-token']").getAttribute("content")

  var Hooks = {
    // The composer's textarea: it takes the focus (a new one replaces it after each
    // message sent), and Enter sends the form while Shift+Enter starts a new line.
    Composer: {
      mounted: function () {
        var textarea = this.el
        textarea.focus()
        textarea.addEventListener("keydown", function (event) {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault()
            textarea.form.requestSubmit()
          }
        })
      }
    },
    // The connection state: the server renders "connected" with every render it
    // sends; only the page can tell that the socket is down.
    Connection: {
      disconnected: function () {
        this.el.dataset.state = "reconnecting"
        this.el.textContent = "reconnecting…"
      },
      reconnected: function () {
        this.el.dataset.state = "online"
        this.el.textContent = "connected"
      }
    }
  }

  var liveSocket = new LiveView.LiveSocket("/live", Phoenix.Socket, {
    params: {_csrf_token: csrfToken},
    hooks: Hooks,
    longPollFallbackMs: 3000
  })
  liveSocket.connect()
  window.liveSocket = liveSocket
})()
