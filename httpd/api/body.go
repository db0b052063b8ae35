package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"

	"github.com/valyala/fasthttp"
)

// readBody reads a small request body, at most Config.MaxBodyBytes (ErrBodyTooLarge beyond),
// whose media type must be want (ErrUnsupportedMediaType). An empty body is allowed.
func (h *Handler) readBody(ctx *fasthttp.RequestCtx, want string) ([]byte, error) {
	cl := ctx.Request.Header.ContentLength()
	if cl == 0 {
		return nil, nil
	}
	if cl > h.cfg.MaxBodyBytes {
		ctx.SetConnectionClose() // do not read a body we refuse
		return nil, ErrBodyTooLarge
	}
	mt, _, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	if err != nil || mt != want {
		ctx.SetConnectionClose()
		return nil, ErrUnsupportedMediaType
	}
	var body []byte
	if stream := ctx.RequestBodyStream(); stream != nil {
		body, err = io.ReadAll(io.LimitReader(stream, int64(h.cfg.MaxBodyBytes)+1))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	} else {
		body = append([]byte(nil), ctx.PostBody()...)
	}
	if len(body) > h.cfg.MaxBodyBytes {
		ctx.SetConnectionClose()
		return nil, ErrBodyTooLarge
	}
	return body, nil
}

// decodeJSON reads a JSON body into v: one object, no unknown fields.
func (h *Handler) decodeJSON(ctx *fasthttp.RequestCtx, v any) error {
	body, err := h.readBody(ctx, "application/json")
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrBadRequest)
	}
	return nil
}
