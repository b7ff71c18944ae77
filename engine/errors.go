package engine

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError names one invalid input field and says what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError is bad input that the caller can fix; handlers answer 422 with the fields.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records a problem with a field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds a problem and nil otherwise, so validators can end with
// `return v.Err()`.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Invalid is a shorthand for a single-field validation error.
func Invalid(field, format string, args ...any) error {
	v := &ValidationError{}
	v.Add(field, format, args...)
	return v
}

// ConflictError is a request that clashes with the current state (409).
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

// Conflict builds a ConflictError.
func Conflict(format string, args ...any) error {
	return &ConflictError{Message: fmt.Sprintf(format, args...)}
}

// ErrForbidden is returned when the actor lacks a permission for an otherwise valid request.
var ErrForbidden = errors.New("forbidden")

// ForbiddenError explains which permission or rule refused the request.
type ForbiddenError struct{ Message string }

func (e *ForbiddenError) Error() string { return e.Message }

func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// Forbidden builds a ForbiddenError.
func Forbidden(format string, args ...any) error {
	return &ForbiddenError{Message: fmt.Sprintf(format, args...)}
}
