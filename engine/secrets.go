package engine

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
