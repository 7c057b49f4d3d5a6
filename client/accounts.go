package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// WhoAmI returns who the client's credentials are (GET /api/v1/whoami).
func (c *Client) WhoAmI(ctx context.Context, opts ...CallOption) (mlops.Principal, error) {
	var out mlops.Principal
	return out, c.do(ctx, c.newCall(http.MethodGet, "/api/v1/whoami", opts), &out)
}

// UserList returns every user, by name (GET /api/v1/users).
func (c *Client) UserList(ctx context.Context, opts ...CallOption) ([]mlops.User, error) {
	var out api.List[mlops.User]
	err := c.do(ctx, c.newCall(http.MethodGet, "/api/v1/users", opts), &out)
	return out.Items, err
}

// UserCreate creates a user, a person (POST /api/v1/users); a 409 when the
// name is taken.
func (c *Client) UserCreate(ctx context.Context, in api.NewUser, opts ...CallOption) (mlops.User, error) {
	var out mlops.User
	r := c.newCall(http.MethodPost, "/api/v1/users", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// UserUpdate changes a user's role or password, or disables them (PATCH
// /api/v1/users/{name}); fields left empty stay.
func (c *Client) UserUpdate(ctx context.Context, name string, in api.UserChange, opts ...CallOption) (mlops.User, error) {
	var out mlops.User
	r := c.newCall(http.MethodPatch, pathf("/api/v1/users/%s", name), opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// TokenList returns the tokens by name, never their secrets (GET
// /api/v1/tokens); revoked ones too when revoked is true.
func (c *Client) TokenList(ctx context.Context, revoked bool, opts ...CallOption) ([]mlops.Token, error) {
	var out api.List[mlops.Token]
	r := c.newCall(http.MethodGet, "/api/v1/tokens", opts)
	if revoked {
		r.query = url.Values{"revoked": {"true"}}
	}
	err := c.do(ctx, r, &out)
	return out.Items, err
}

// TokenCreate creates a token for a program (POST /api/v1/tokens). Its
// Secret is in this answer only; a 409 when a live token has the name.
func (c *Client) TokenCreate(ctx context.Context, in api.NewToken, opts ...CallOption) (api.CreatedToken, error) {
	var out api.CreatedToken
	r := c.newCall(http.MethodPost, "/api/v1/tokens", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// TokenRevoke revokes a token (DELETE /api/v1/tokens/{name}).
func (c *Client) TokenRevoke(ctx context.Context, name string, opts ...CallOption) (mlops.Token, error) {
	var out mlops.Token
	return out, c.do(ctx, c.newCall(http.MethodDelete, pathf("/api/v1/tokens/%s", name), opts), &out)
}
