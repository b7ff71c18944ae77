package connectors

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

var cmd = &Command{
	Name: "createAccount",
	Params: []Field{
		{Name: "username", Kind: KindString, Required: true},
		{Name: "pageSize", Kind: KindInteger, Default: 1000},
		{Name: "enabled", Kind: KindBoolean},
		{Name: "groups", Kind: KindStringList},
		{Name: "attributes", Kind: KindObject},
		{Name: "mode", Kind: KindString, Enum: []string{"a", "b"}},
		{Name: "wait", Kind: KindDuration},
		{Name: "password", Kind: KindString, Secret: true},
	},
}

func TestCheckParamsNormalises(t *testing.T) {
	got, err := CheckParams(cmd, map[string]any{
		"username": "jdoe", "enabled": "true", "groups": "a, b,,c", "attributes": map[string]any{"x": 1.0},
		"mode": "b", "wait": "90s", "password": "",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"username": "jdoe", "pageSize": 1000, "enabled": true, "mode": "b", "wait": 90 * time.Second}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if g := got["groups"].([]string); strings.Join(g, "|") != "a|b|c" {
		t.Errorf("groups = %v", g)
	}
	if _, ok := got["password"]; ok {
		t.Error("an empty optional param is absent, not an empty string")
	}
	got, err = CheckParams(cmd, map[string]any{"username": "x", "pageSize": 50.0, "groups": []any{"g", 201.0}})
	if err != nil || got["pageSize"] != 50 || strings.Join(got["groups"].([]string), "|") != "g|201" {
		t.Fatalf("JSON values: %v %v", got, err)
	}
	got, err = CheckParams(cmd, map[string]any{"username": "x", "groups": 200.0})
	if err != nil || strings.Join(got["groups"].([]string), "|") != "200" {
		t.Fatalf("a lone number is a list of one: %v %v", got, err)
	}
}

func TestCheckParamsRejectsNamingTheField(t *testing.T) {
	cases := []struct {
		params map[string]any
		field  string
		msg    string
	}{
		{map[string]any{}, "username", "username is required"},
		{map[string]any{"username": 42.0}, "username", "username must be text, not a number"},
		{map[string]any{"username": "x", "pageSize": "ten"}, "pageSize", `pageSize must be a whole number, not "ten"`},
		{map[string]any{"username": "x", "pageSize": 1.5}, "pageSize", "pageSize must be a whole number, not 1.5"},
		{map[string]any{"username": "x", "enabled": "yes"}, "enabled", `enabled must be true or false, not "yes"`},
		{map[string]any{"username": "x", "groups": []any{"a", true}}, "groups", "item 2 is true/false"},
		{map[string]any{"username": "x", "attributes": "x"}, "attributes", "attributes must be an object"},
		{map[string]any{"username": "x", "mode": "c"}, "mode", `mode must be one of a, b, not "c"`},
		{map[string]any{"username": "x", "wait": "soon"}, "wait", "wait must be a duration"},
		{map[string]any{"username": "x", "usrname": "y"}, "usrname", `unknown param "usrname"`},
	}
	for _, c := range cases {
		_, err := CheckParams(cmd, c.params)
		var ce *Error
		if !errors.As(err, &ce) || ce.Class != InvalidInput || ce.Field != c.field || !strings.Contains(ce.Message, c.msg) {
			t.Errorf("%v: got %#v, want field %s and %q", c.params, err, c.field, c.msg)
		}
		if ce != nil && !strings.HasPrefix(ce.Message, "createAccount was not called: ") {
			t.Errorf("the message says nothing was called: %s", ce.Message)
		}
	}
}

func TestSanitizeMasksSecretParams(t *testing.T) {
	in := map[string]any{"username": "jdoe", "password": "Hunter2!"}
	out := Sanitize(cmd, in)
	if out["password"] != Masked || out["username"] != "jdoe" || in["password"] != "Hunter2!" {
		t.Fatalf("sanitize: %v (input %v)", out, in)
	}
}

func TestClassify(t *testing.T) {
	own := Errorf(AlreadyExists, "EXISTS", "account jdoe already exists")
	if Classify(own) != own || Classify(nil) != nil {
		t.Fatal("classified errors pass through")
	}
	_, dialErr := net.DialTimeout("tcp", "127.0.0.1:1", time.Second)
	cases := []struct {
		err  error
		want Class
	}{
		{dialErr, ConnectorDown},
		{&net.DNSError{Name: "ad.invalid", Err: "no such host"}, ConnectorDown},
		{context.DeadlineExceeded, ConnectorDown},
		{errors.New("boom"), TargetError},
	}
	for _, c := range cases {
		if got := Classify(c.err); got.Class != c.want || got.Message == "" {
			t.Errorf("%v: %+v, want %s", c.err, got, c.want)
		}
	}
	for _, c := range Classes {
		if !c.Valid() {
			t.Errorf("%s is valid", c)
		}
	}
	if !ConnectorDown.Retryable() || !RateLimited.Retryable() || !TargetError.Retryable() || InvalidInput.Retryable() || AlreadyExists.Retryable() {
		t.Fatal("only transient classes retry")
	}
}

func TestRegistryChecksDeclarations(t *testing.T) {
	newFn := func(Config) (Connector, error) { return nil, nil }
	good := &Type{Name: "x", Label: "X", New: newFn, Commands: []Command{
		{Name: "create", Params: []Field{{Name: "id", Kind: KindString}}, Compensation: &Compensation{Command: "delete", Params: map[string]string{"id": "{{params.id}}"}}},
		{Name: "delete", Params: []Field{{Name: "id", Kind: KindString}}},
	}}
	if _, err := NewRegistry(good); err != nil {
		t.Fatal(err)
	}
	bad := []*Type{
		{Name: "x", Label: "X"},
		{Name: "x", Label: "X", New: newFn, Config: []Field{{Name: "a", Kind: "float"}}},
		{Name: "x", Label: "X", New: newFn, Config: []Field{{Name: "a", Kind: KindInteger, Default: "ten"}}},
		{Name: "x", Label: "X", New: newFn, Commands: []Command{{Name: "c", Compensation: &Compensation{SubsumedBy: "d"}}}},
		{Name: "x", Label: "X", New: newFn, Commands: []Command{{Name: "c", SyncCapable: "device"}}},
		{Name: "x", Label: "X", New: newFn, Commands: []Command{{Name: "c", Compensation: &Compensation{Command: "c", Params: map[string]string{"nope": ""}}}}},
	}
	for i, b := range bad {
		if _, err := NewRegistry(b); err == nil {
			t.Errorf("bad type %d accepted", i)
		}
	}
	if _, err := NewRegistry(good, good); err == nil {
		t.Error("a type registered twice is refused")
	}
}
