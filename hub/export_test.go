package hub

import "net/http"

// Handler is the hub's HTTP handler, for benchmarks that call it in process.
func (h *Hub) Handler() http.Handler { return h.srv.Handler }
