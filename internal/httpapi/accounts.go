package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
)

// NewUser is the body of POST /api/v1/users.
type NewUser = api.NewUser

// UserChange is the body of PATCH /api/v1/users/{name}; absent fields stay.
type UserChange = api.UserChange

// NewToken is the body of POST /api/v1/tokens.
type NewToken = api.NewToken

// CreatedToken is a new token with its secret, which is shown only here.
type CreatedToken = api.CreatedToken

type userCreateIn struct {
	Body NewUser
}

// UserPath addresses a user by name.
type UserPath struct {
	Name string `path:"name" doc:"The user's name."`
}

type userPatchIn struct {
	UserPath
	Body UserChange
}

type tokenCreateIn struct {
	Body NewToken
}

type tokenListIn struct {
	Revoked bool `query:"revoked" doc:"Include revoked tokens."`
}

// TokenPath addresses a live token by name.
type TokenPath struct {
	Name string `path:"name" doc:"The token's name."`
}

func registerAccounts(api huma.API, s *Server) {
	tags := []string{"Accounts"}
	handle(api, s, permAnyone, huma.Operation{
		OperationID: "whoami", Method: http.MethodGet, Path: "/api/v1/whoami", Tags: tags,
		Summary:     "Who the request's credentials are",
		Description: "Answers every caller: kind anonymous (role admin while no credentials are needed, else no role), user or token.",
	}, func(ctx context.Context, _ *struct{}) (*body[mlops.Principal], error) {
		return ok(auth.CallerFrom(ctx).Principal, nil)
	})
	handle(api, s, mlops.PermAdmin, huma.Operation{
		OperationID: "list-users", Method: http.MethodGet, Path: "/api/v1/users", Tags: tags,
		Summary: "List users by name",
	}, func(ctx context.Context, _ *struct{}) (*body[List[mlops.User]], error) {
		users, err := s.st.UserList(ctx)
		return list(users, "", err)
	})
	handle(api, s, mlops.PermAdmin, huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: "/api/v1/users", Tags: tags,
		Summary: "Create a user (a person)", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, func(ctx context.Context, in *userCreateIn) (*body[mlops.User], error) {
		if fe := mlops.ValidatePassword("password", in.Body.Password); fe != nil {
			return nil, mlops.Invalid(fe.Field, "%s", fe.Message)
		}
		return ok(s.st.UserCreate(ctx, store.NewUser{Name: in.Body.Name, Role: in.Body.Role,
			PasswordHash: auth.HashPassword(in.Body.Password)}))
	})
	handle(api, s, mlops.PermAdmin, huma.Operation{
		OperationID: "update-user", Method: http.MethodPatch, Path: "/api/v1/users/{name}", Tags: tags,
		Summary: "Change a user's role, password, or disable them",
	}, func(ctx context.Context, in *userPatchIn) (*body[mlops.User], error) {
		var c store.UserChange
		if in.Body.Role != "" {
			c.Role = &in.Body.Role
		}
		c.Disabled = in.Body.Disabled
		if in.Body.Password != "" {
			if fe := mlops.ValidatePassword("password", in.Body.Password); fe != nil {
				return nil, mlops.Invalid(fe.Field, "%s", fe.Message)
			}
			h := auth.HashPassword(in.Body.Password)
			c.PasswordHash = &h
		}
		return ok(s.st.UserUpdate(ctx, in.Name, c))
	})
	handle(api, s, mlops.PermAdmin, huma.Operation{
		OperationID: "list-tokens", Method: http.MethodGet, Path: "/api/v1/tokens", Tags: tags,
		Summary: "List tokens by name (never their secrets)",
	}, func(ctx context.Context, in *tokenListIn) (*body[List[mlops.Token]], error) {
		tokens, err := s.st.TokenList(ctx, in.Revoked)
		return list(tokens, "", err)
	})
	handle(api, s, mlops.PermAdmin, huma.Operation{
		OperationID: "create-token", Method: http.MethodPost, Path: "/api/v1/tokens", Tags: tags,
		Summary: "Create a token (for a program); its secret is in this answer only", DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusConflict},
	}, func(ctx context.Context, in *tokenCreateIn) (*body[CreatedToken], error) {
		secret, hash := auth.NewSecret()
		t, err := s.st.TokenCreate(ctx, store.NewToken{Name: in.Body.Name, Role: in.Body.Role, SecretHash: hash,
			CreatedBy: auth.CallerFrom(ctx).Principal.Name, ExpiresAt: in.Body.ExpiresAt})
		if err != nil {
			return nil, err
		}
		return ok(CreatedToken{Token: t, Secret: secret}, nil)
	})
	handle(api, s, mlops.PermAdmin, huma.Operation{
		OperationID: "revoke-token", Method: http.MethodDelete, Path: "/api/v1/tokens/{name}", Tags: tags,
		Summary:     "Revoke a token",
		Description: "Every running server refuses it within a second or two. Answers the revoked token.",
	}, func(ctx context.Context, in *TokenPath) (*body[mlops.Token], error) {
		return ok(s.st.TokenRevoke(ctx, in.Name))
	})
}
