package connectors

import "context"

type idempotencyKey struct{}

// WithIdempotencyKey marks a call with the key the engine gives every attempt of one step
// execution (run, step, iteration), so a target that understands it (an HTTP API's
// Idempotency-Key header) can drop a repeated attempt.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// IdempotencyKey returns the call's key, or "" outside a run.
func IdempotencyKey(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKey{}).(string)
	return k
}
