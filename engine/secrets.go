package engine

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// secretBox seals connector secrets with AES-256-GCM. It holds the current key and, during a
// rotation, the previous one: reads try the key the value was sealed with, writes always use
// the current key. The connector id is the additional data, so a sealed value copied onto
// another connector's row does not open.
type secretBox struct {
	current  *boxKey
	previous *boxKey
}

type boxKey struct {
	id   string // the first 8 bytes of SHA-256(key), hex: names the key without revealing it
	aead cipher.AEAD
}

func newBoxKey(key []byte) (*boxKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("connector secret key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &boxKey{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

func newSecretBox(current, previous []byte) (*secretBox, error) {
	b := &secretBox{}
	var err error
	if b.current, err = newBoxKey(current); err != nil {
		return nil, err
	}
	if previous != nil {
		if b.previous, err = newBoxKey(previous); err != nil {
			return nil, fmt.Errorf("previous key: %w", err)
		}
	}
	return b, nil
}

// seal encrypts plain for the connector id and returns the sealed bytes and the key id.
func (b *secretBox) seal(plain []byte, id string) ([]byte, string) {
	nonce := make([]byte, b.current.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b.current.aead.Seal(nonce, nonce, plain, []byte(id)), b.current.id
}

// errSecretKey means neither configured key opens a sealed value.
var errSecretKey = errors.New("sealed with a key that is neither FLOH_ENCRYPTION_KEY nor FLOH_ENCRYPTION_KEY_PREVIOUS")

// open decrypts a sealed value of the connector id. keyID says which key sealed it.
func (b *secretBox) open(sealed []byte, keyID, id string) ([]byte, error) {
	for _, k := range []*boxKey{b.current, b.previous} {
		if k == nil || k.id != keyID {
			continue
		}
		n := k.aead.NonceSize()
		if len(sealed) < n {
			return nil, errors.New("sealed secrets are truncated")
		}
		plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("sealed secrets do not open: %w", err)
		}
		return plain, nil
	}
	return nil, errSecretKey
}

// formSecretsTTL bounds how long a sealed form value stays usable.
const formSecretsTTL = time.Hour

type formSecrets struct {
	Sealed time.Time         `json:"sealed"`
	Values map[string]string `json:"values"`
}

// SealFormSecrets seals secret values that a multi-step form (the connector wizard) must carry
// from one step to the next, so the page holds only ciphertext: the values never appear in
// HTML. The seal is bound to the user and expires after an hour.
func (e *Engine) SealFormSecrets(userID uuid.UUID, values map[string]string) string {
	plain, err := json.Marshal(formSecrets{Sealed: e.now(), Values: values})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	sealed, keyID := e.secrets.seal(plain, "form:"+userID.String())
	return keyID + "." + base64.RawURLEncoding.EncodeToString(sealed)
}

// OpenFormSecrets opens what SealFormSecrets sealed for the same user.
func (e *Engine) OpenFormSecrets(userID uuid.UUID, s string) (map[string]string, error) {
	keyID, enc, ok := strings.Cut(s, ".")
	sealed, err := base64.RawURLEncoding.DecodeString(enc)
	if !ok || err != nil {
		return nil, errors.New("the form's sealed secrets are malformed; enter them again")
	}
	plain, err := e.secrets.open(sealed, keyID, "form:"+userID.String())
	if err != nil {
		return nil, errors.New("the form's sealed secrets do not open; enter them again")
	}
	var fs formSecrets
	if err := json.Unmarshal(plain, &fs); err != nil {
		return nil, fmt.Errorf("form secrets: %w", err)
	}
	if e.clock.Since(fs.Sealed) > formSecretsTTL {
		return nil, errors.New("the form expired after an hour; enter the secrets again")
	}
	return fs.Values, nil
}
