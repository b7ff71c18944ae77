// Package lint checks a workflow definition against the connector catalogue and says what
// would fail, or fail silently, at run time (PRODUCT §4). It is pure: no database, no clock;
// the engine hands it a Catalogue that resolves connector references.
//
// Lint never fails and never panics, however broken the document: it answers for anything
// workflow.Parse accepts, and every rule tolerates missing steps, dangling edges, cycles and
// config values of any type. It reports at most one finding per (step, code), with every
// problem of that kind in the message. Publishing is refused while an error remains; "lint
// clean" means no error and no warning.
//
// The codes:
//
//	code                              severity  meaning
//	MISSING_START / MULTIPLE_START    error     no start step / more than one (stepId "")
//	EDGE_UNKNOWN_STEP                 error     an edge names a step that does not exist (stepId: the edge's from)
//	UNKNOWN_CONNECTOR                 error     the instance does not exist (or a notification's is not an email one)
//	UNKNOWN_COMMAND                   error     the command does not exist, or none is chosen
//	MISSING_REQUIRED_PARAM            error     a required param of the command schema is missing
//	PARAM_TYPE_MISMATCH               error     a param has the wrong type, or the command has no such param
//	UNDEFINED_VARIABLE                error     a template or expression names a variable no input, built-in or earlier step defines
//	DUPLICATE_OUTCOME                 error     two edges leave one step on the same outcome
//	CYCLE_WITHOUT_EXIT                error     a loop with no edge out of it
//	SCHEDULED_REQUIRED_VARIABLE       error     a scheduled workflow has required variables (stepId "")
//	PROVISIONING_CHAIN_NO_ERROR_EDGE  warning   mutating steps on two or more systems, and this mutating connector step has no error edge
//	UNREACHABLE_STEP                  warning   no path from a start step
//	DEAD_END                          warning   a non-end step with no way on when it succeeds
//	APPROVAL_NO_REJECTION_PATH        warning   an approval step with no rejected edge
//	CONDITION_MISSING_BRANCH          warning   a declared branch, or the default, has no edge
//	ERROR_EDGE_WITHOUT_NOTIFICATION   info      an error edge whose path reaches no notification step
//	NO_COMPENSATION                   info      a mutating connector step whose command declares no compensation
//
// Where the table is silent, these are the rules:
//
//   - SCHEDULED_REQUIRED_VARIABLE is this package's own code. A schedule tick starts a run
//     with no inputs, so publishing refuses a scheduled workflow with a required variable
//     (workflow.Definition.Validate); lint says so while the author edits, for any schedule
//     trigger, even one whose cron is not written yet.
//   - Systems. Each connector instance is one system, known by the identity the catalogue
//     returns (Instance.ID), not by the reference: the same instance named once by id and once
//     by name is one system. Floh is one system, through user_create and profile_update. A
//     step is mutating when its command says so for its params (connectors.Command.IsMutating:
//     an HTTP GET is not). Every step of the document counts, reachable or not.
//   - A connectorId or command that holds a template ("{{team.directory}}") is resolved when a
//     run renders it, so lint does not report it unknown and cannot check the command or its
//     params; such a step counts as no known system and as not mutating. Its variables are
//     still checked.
//   - An edge whose target does not exist still routes its outcome for DEAD_END,
//     APPROVAL_NO_REJECTION_PATH, CONDITION_MISSING_BRANCH and
//     PROVISIONING_CHAIN_NO_ERROR_EDGE: the dangling edge is EDGE_UNKNOWN_STEP's error, and one
//     mistake gives one finding.
//   - DEAD_END: a step moves on along "success"; an approval's "success" is its approval. A
//     condition moves on along its branches and its default instead, so it is a dead end when
//     none of them has an edge (and CONDITION_MISSING_BRANCH names each one missing).
//   - UNREACHABLE_STEP is not reported when there is no start step: MISSING_START says it.
//     Paths follow edges of every outcome.
//   - ERROR_EDGE_WITHOUT_NOTIFICATION: the path follows edges of every outcome from the error
//     edge's target, which may itself be the notification. Email and in-app both count.
//   - NO_COMPENSATION only concerns connector steps: user_create and profile_update have
//     built-in undos.
//
// Cost: every rule is one pass over the steps and edges, or one walk of the graph (Tarjan's
// strongly connected components, a breadth-first search from the start, one backwards from
// the notifications), and variables flow over the components in topological order as bit
// sets; the catalogue is asked once per distinct reference. BenchmarkLint500 measures it.
package lint
