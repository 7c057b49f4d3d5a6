package api

import (
	"time"

	"github.com/mlopsdev/mlops"
)

// NewUser is the body of POST /api/v1/users.
type NewUser struct {
	Name     string     `json:"name" doc:"1–100 characters, no spaces or colons."`
	Role     mlops.Role `json:"role" enum:"viewer,pipeline,agent,reviewer,admin"`
	Password string     `json:"password" doc:"At least 12 characters. Stored only as an argon2id hash; never returned."`
}

// UserChange is the body of PATCH /api/v1/users/{name}; absent fields stay.
type UserChange struct {
	Role     mlops.Role `json:"role,omitempty" enum:"viewer,pipeline,agent,reviewer,admin"`
	Disabled *bool      `json:"disabled,omitempty" doc:"true signs the user out everywhere and refuses their credentials."`
	Password string     `json:"password,omitempty" doc:"A new password (at least 12 characters); ends the user's sign-in sessions."`
}

// NewToken is the body of POST /api/v1/tokens.
type NewToken struct {
	Name      string     `json:"name" doc:"Names the program (training-pipeline, model-server, agent); one live token per name."`
	Role      mlops.Role `json:"role" enum:"viewer,pipeline,agent,reviewer,admin"`
	ExpiresAt *time.Time `json:"expires_at,omitempty" doc:"When the token stops working; absent: never."`
}

// CreatedToken is a new token with its secret, which is shown only here.
type CreatedToken struct {
	mlops.Token
	Secret string `json:"secret" doc:"Send as Authorization: Bearer <secret>. Shown once: it is stored only as a hash."`
}
