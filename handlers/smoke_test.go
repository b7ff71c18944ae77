package handlers_test

import "testing"

func TestSmoke(t *testing.T) {
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	res := ts.get(t, c, "/api/auth/me")
	t.Log(res.Status, res.Body)
}
