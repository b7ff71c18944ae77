package lint

import (
	"fmt"
	"strings"

	"floh/connectors"
	"floh/engine/workflow"
)

// Finding is one lint result. StepID is empty for a finding about the whole workflow
// (MISSING_START).
type Finding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	StepID   string `json:"stepId"`
	Message  string `json:"message"`
}

// Severities. Publishing is refused while an error remains; "lint clean" also means no warning.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// The codes, in the order of the table in doc.go.
const (
	CodeMissingStart                 = "MISSING_START"
	CodeMultipleStart                = "MULTIPLE_START"
	CodeEdgeUnknownStep              = "EDGE_UNKNOWN_STEP"
	CodeUnknownConnector             = "UNKNOWN_CONNECTOR"
	CodeUnknownCommand               = "UNKNOWN_COMMAND"
	CodeMissingRequiredParam         = "MISSING_REQUIRED_PARAM"
	CodeParamTypeMismatch            = "PARAM_TYPE_MISMATCH"
	CodeUndefinedVariable            = "UNDEFINED_VARIABLE"
	CodeDuplicateOutcome             = "DUPLICATE_OUTCOME"
	CodeCycleWithoutExit             = "CYCLE_WITHOUT_EXIT"
	CodeScheduledRequiredVariable    = "SCHEDULED_REQUIRED_VARIABLE"
	CodeProvisioningChainNoErrorEdge = "PROVISIONING_CHAIN_NO_ERROR_EDGE"
	CodeUnreachableStep              = "UNREACHABLE_STEP"
	CodeDeadEnd                      = "DEAD_END"
	CodeApprovalNoRejectionPath      = "APPROVAL_NO_REJECTION_PATH"
	CodeConditionMissingBranch       = "CONDITION_MISSING_BRANCH"
	CodeErrorEdgeWithoutNotification = "ERROR_EDGE_WITHOUT_NOTIFICATION"
	CodeNoCompensation               = "NO_COMPENSATION"
)

// HasErrors reports whether any finding is an error.
func HasErrors(findings []Finding) bool {
	for _, f := range findings {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Instance is a connector instance as lint sees it.
type Instance struct {
	// ID identifies the instance: every reference to one instance (its id, its name in any
	// case) resolves to the same ID. Two steps on one ID are one system.
	ID string
	// Name is how messages name the instance.
	Name string
	Type *connectors.Type
}

// Catalogue resolves a connector reference (an instance id or name) to the instance. An
// instance with a nil Type counts as unknown.
type Catalogue interface {
	Connector(ref string) (Instance, bool)
}

// rules run in order. A rule reads the graph and returns its findings, at most one per
// (step, code), with every problem of that kind in the message. Adding a lint code is adding
// a rule here and a line to the table in doc.go.
var rules = []func(*graph) []Finding{
	lintStart,
	lintEdgeTargets,
	lintConnectors,
	lintVariables,
	lintDuplicateOutcomes,
	lintCycles,
	lintScheduledRequired,
	lintProvisioningChain,
	lintUnreachable,
	lintDeadEnds,
	lintApprovals,
	lintConditionBranches,
	lintErrorEdgesNotify,
	lintCompensation,
}

// Lint checks a definition against the connector catalogue (nil: no connector is known). The
// result is never nil.
func Lint(d *workflow.Definition, cat Catalogue) []Finding {
	findings := []Finding{}
	if d == nil {
		return findings
	}
	g := newGraph(d, cat)
	seen := map[[2]string]bool{}
	for _, rule := range rules {
		for _, f := range rule(g) {
			key := [2]string{f.StepID, f.Code}
			if !seen[key] {
				seen[key] = true
				findings = append(findings, f)
			}
		}
	}
	return findings
}

func finding(severity, code, stepID, format string, args ...any) Finding {
	return Finding{Code: code, Severity: severity, StepID: stepID, Message: fmt.Sprintf(format, args...)}
}

func errorFinding(code, stepID, format string, args ...any) Finding {
	return finding(SeverityError, code, stepID, format, args...)
}

func warning(code, stepID, format string, args ...any) Finding {
	return finding(SeverityWarning, code, stepID, format, args...)
}

func info(code, stepID, format string, args ...any) Finding {
	return finding(SeverityInfo, code, stepID, format, args...)
}

// quoteAll quotes names for a message: "a", "b".
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
