package hub

import (
	"context"
	"net/http"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/httpapi"
)

// openWeb builds the web app, served on every path the API does not claim.
// machines is the registry the web app changes machines through.
func (h *Hub) openWeb(ctx context.Context, machines moonwake.MachineService, api *httpapi.Server) (http.Handler, error) {
	return nil, nil
}
