package connectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// Class says what kind of failure happened, and so whether retrying can help.
type Class string

const (
	// InvalidInput: the params failed the schema before any call, or the target rejected a value.
	InvalidInput Class = "invalid_input"
	// AlreadyExists: the account or object exists.
	AlreadyExists Class = "already_exists"
	// Conflict: the target holds a conflicting value (an existing membership or entitlement).
	Conflict Class = "conflict"
	// NotFound: the object does not exist.
	NotFound Class = "not_found"
	// Unauthorized: bad credentials, or a missing permission at the target.
	Unauthorized Class = "unauthorized"
	// ConnectorDown: the target cannot be reached (DNS, refused, TLS, timeout) or the instance
	// is disabled.
	ConnectorDown Class = "connector_down"
	// TargetError: the target answered with a server-side error.
	TargetError Class = "target_error"
	// RateLimited: the target throttled the call.
	RateLimited Class = "rate_limited"
)

// Classes lists every class in the order the docs present them.
var Classes = []Class{InvalidInput, AlreadyExists, Conflict, NotFound, Unauthorized, ConnectorDown, TargetError, RateLimited}

// Retryable reports whether the engine may try the call again: only for transient failures.
func (c Class) Retryable() bool {
	return c == ConnectorDown || c == TargetError || c == RateLimited
}

// Valid reports whether c is one of Classes.
func (c Class) Valid() bool {
	for _, k := range Classes {
		if c == k {
			return true
		}
	}
	return false
}

// Error is the one failure envelope, the same in test, execute, run steps and diagnose.
type Error struct {
	Message string `json:"message"`
	Code    string `json:"code"`
	Class   Class  `json:"class"`
	// Field names the param or config field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// RetryAfter is how long the target asked us to wait (rate_limited, some 503s).
	RetryAfter time.Duration `json:"-"`
	// Err is the underlying error, for logs; it is never serialised because it may carry
	// target internals.
	Err error `json:"-"`
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error. The message is for an admin: say what failed and where.
func Errorf(class Class, code, format string, args ...any) *Error {
	return &Error{Class: class, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error that keeps err as its cause.
func Wrap(err error, class Class, code, format string, args ...any) *Error {
	e := Errorf(class, code, format, args...)
	e.Err = err
	return e
}

// Classify turns any error from a connector into the envelope. Errors a connector already
// classified pass through; network, TLS and timeout errors are connector_down; anything else
// is a target_error, since the connector could not say more.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	if down := asNetworkError(err); down != nil {
		return down
	}
	return Wrap(err, TargetError, "TARGET_ERROR", "the target failed: %v", err)
}

// asNetworkError classifies failures to reach the target, or returns nil.
func asNetworkError(err error) *Error {
	var (
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Wrap(err, ConnectorDown, "TIMEOUT", "the target did not answer in time: %v", err)
	case errors.As(err, &dnsErr):
		return Wrap(err, ConnectorDown, "DNS", "cannot resolve %s: %v", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &host):
		return Wrap(err, ConnectorDown, "TLS", "the target's TLS certificate was not accepted: %v", err)
	case errors.As(err, &recErr):
		return Wrap(err, ConnectorDown, "TLS", "the target did not answer TLS (is the URL's scheme or port right?): %v", err)
	case errors.As(err, &opErr):
		return Wrap(err, ConnectorDown, "UNREACHABLE", "cannot reach the target: %v", err)
	}
	return nil
}
