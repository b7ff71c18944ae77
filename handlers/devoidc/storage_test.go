package devoidc

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

var storageTestKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

// fakeClockStorage returns a storage whose clock the test moves by hand.
func fakeClockStorage(t *testing.T) (*storage, *time.Time) {
	t.Helper()
	s, err := newStorage(Config{
		SigningKey: storageTestKey(),
		Users:      []User{{Subject: "demo-admin", Email: "admin@example.com", Name: "Demo Admin"}},
	}, &client{id: "floh"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	return s, &now
}

func newAuthRequest(t *testing.T, s *storage) string {
	t.Helper()
	req, err := s.CreateAuthRequest(t.Context(), &oidc.AuthRequest{
		ClientID:     "floh",
		RedirectURI:  "http://127.0.0.1/auth/callback",
		ResponseType: oidc.ResponseTypeCode,
		Scopes:       oidc.SpaceDelimitedArray{oidc.ScopeOpenID},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return req.GetID()
}

func TestAuthRequestsExpire(t *testing.T) {
	s, now := fakeClockStorage(t)
	id := newAuthRequest(t, s)

	*now = now.Add(pendingLifetime - time.Second)
	if !s.awaitingSignIn(id) {
		t.Fatal("auth request gone before its lifetime ended")
	}
	*now = now.Add(time.Second)
	if s.awaitingSignIn(id) {
		t.Error("sign-in page still offered for an expired auth request")
	}
	if err := s.completeAuthRequest(id, "demo-admin"); err == nil {
		t.Error("expired auth request could still be completed")
	}
	if _, err := s.AuthRequestByID(t.Context(), id); err == nil {
		t.Error("expired auth request still returned to the OP")
	}

	newAuthRequest(t, s)
	if _, kept := s.authRequests[id]; kept || len(s.authRequests) != 1 {
		t.Errorf("expired auth request not swept: %d stored", len(s.authRequests))
	}
}

func TestCompletedAuthRequestKeepsItsUser(t *testing.T) {
	s, _ := fakeClockStorage(t)
	id := newAuthRequest(t, s)
	if err := s.completeAuthRequest(id, "demo-admin"); err != nil {
		t.Fatal(err)
	}
	if s.awaitingSignIn(id) {
		t.Error("sign-in page still offered after a user was chosen")
	}
	if err := s.completeAuthRequest(id, "demo-admin"); err != nil {
		t.Errorf("choosing the same user again: %v", err)
	}
	if err := s.completeAuthRequest(id, "demo-user"); err == nil {
		t.Error("a completed auth request switched to another user")
	}
	if req, err := s.AuthRequestByID(t.Context(), id); err != nil || req.GetSubject() != "demo-admin" {
		t.Errorf("AuthRequestByID = %v, %v; want demo-admin", req, err)
	}
}

func TestCodesExpireAndAreReplaced(t *testing.T) {
	s, now := fakeClockStorage(t)
	id := newAuthRequest(t, s)
	if err := s.completeAuthRequest(id, "demo-admin"); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthCode(t.Context(), id, "first"); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthCode(t.Context(), id, "second"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthRequestByCode(t.Context(), "first"); err == nil {
		t.Error("replaced code still redeemable")
	}
	if req, err := s.AuthRequestByCode(t.Context(), "second"); err != nil || !req.Done() || req.GetSubject() != "demo-admin" {
		t.Fatalf("AuthRequestByCode = %v, %v; want the completed request", req, err)
	}

	*now = now.Add(pendingLifetime)
	if _, err := s.AuthRequestByCode(t.Context(), "second"); err == nil {
		t.Error("expired code still redeemable")
	}
}

func TestAccessTokensExpire(t *testing.T) {
	s, now := fakeClockStorage(t)
	id := newAuthRequest(t, s)
	if err := s.completeAuthRequest(id, "demo-admin"); err != nil {
		t.Fatal(err)
	}
	req, err := s.AuthRequestByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	tokenID, _, err := s.CreateAccessToken(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	info := new(oidc.UserInfo)
	if err := s.SetUserinfoFromToken(t.Context(), info, tokenID, "demo-admin", ""); err != nil || info.Subject != "demo-admin" {
		t.Fatalf("SetUserinfoFromToken = %v, sub %q", err, info.Subject)
	}

	*now = now.Add(accessTokenLifetime)
	if err := s.SetUserinfoFromToken(t.Context(), new(oidc.UserInfo), tokenID, "demo-admin", ""); err == nil {
		t.Error("expired access token still accepted")
	}
	newAuthRequest(t, s)
	if len(s.tokens) != 0 {
		t.Errorf("expired access token not swept: %d stored", len(s.tokens))
	}
}
