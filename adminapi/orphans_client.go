package adminapi

import (
	"context"
	"net/http"
)

// Orphans returns the restore report with the orphans found on the disks now
// (`appliance orphans`).
func (c *Client) Orphans(ctx context.Context) (RestoreReport, error) {
	return call[RestoreReport](ctx, c, http.MethodGet, PathOrphans, nil)
}

// DeleteOrphans deletes the orphans named, all of them when req names none
// (`appliance orphans delete`), and returns the report updated.
func (c *Client) DeleteOrphans(ctx context.Context, req OrphansDeleteRequest) (RestoreReport, error) {
	return call[RestoreReport](ctx, c, http.MethodDelete, PathOrphans, req)
}
