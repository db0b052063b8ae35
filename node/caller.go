package node

import (
	"context"

	"valise/adminapi"
)

// actorOf is who the journal names for a change made in ctx: the admin caller when the
// change came through the admin API (adminapi.CallerFrom), else adminActor (a job the node
// runs by itself for the administrators, or a test calling the node directly).
func actorOf(ctx context.Context) string {
	if c, ok := adminapi.CallerFrom(ctx); ok {
		return c.Actor()
	}
	return adminActor
}
