package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// TokenPrefix starts every token secret, so a leaked one is recognisable
// (secret scanners, log greps).
const TokenPrefix = "mlops_"

// NewSecret returns a fresh token secret (TokenPrefix and 32 random bytes,
// base64url) and the hash the store keeps.
func NewSecret() (secret, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashSecret(secret)
}

// HashSecret is the stored form of a token secret or session id: hex
// SHA-256. The secrets are 256 random bits, so a fast hash is enough; a
// slow one would cost every API call.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// argon2id parameters: OWASP's recommendation for argon2id (19 MiB, two
// passes, one lane), about 20–40 ms here.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns the argon2id hash of pw in PHC string form
// ($argon2id$v=19$m=...,t=...,p=...$salt$key).
func HashPassword(pw string) string {
	var salt [16]byte
	_, _ = rand.Read(salt[:])
	key := argon2.IDKey([]byte(pw), salt[:], argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt[:]), base64.RawStdEncoding.EncodeToString(key))
}

var errBadHash = errors.New("auth: stored password hash is not argon2id")

// CheckPassword reports whether pw matches the stored hash, in time that
// does not depend on where they differ. An empty or unreadable hash (a
// single sign-on user) never matches.
func CheckPassword(hash, pw string) bool {
	p, err := parseHash(hash)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

// dummyHash is checked against when the user does not exist, so a sign-in
// for an unknown name takes as long as one for a known name.
var dummyHash = HashPassword("mlops: no such user")

type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parseHash(h string) (phc, error) {
	var p phc
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, errBadHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, errBadHash
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return p, errBadHash
			}
			p.threads = uint8(n)
		}
	}
	var err1, err2 error
	p.salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	p.key, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || p.memory == 0 || p.time == 0 || p.threads == 0 || len(p.key) == 0 || p.memory > 1<<20 {
		return p, errBadHash
	}
	return p, nil
}
