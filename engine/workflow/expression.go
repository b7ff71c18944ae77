package workflow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// Expressions (condition branches, transform values) are expr-lang programs over the run's
// variables as top-level names.
//
// expr cannot be interrupted once running, so the defence against a costly expression is to
// keep what one expression can ask for small, and to give the caller its time back:
//   - at most maxExpressionLen bytes of source and maxExpressionNodes AST nodes: a condition
//     is a line, not a program;
//   - the VM's memory budget, which counts the elements of every list, map and range built;
//   - predicate bodies (map, filter, any, ...) nested at most maxPredicateDepth deep, because
//     nested bodies multiply iterations without allocating, which the budget does not see;
//   - no `let` and no `reduce`: a named intermediate value or an accumulator can be doubled
//     again and again by a handful of nodes;
//   - a curated set of builtins: no clock or time-zone database (the run's `now` variable is
//     the clock, and this package is pure), nothing whose output size is an argument
//     (`repeat`), and `replace` swapped for a version that refuses results over
//     maxExpressionText;
//   - Eval runs the VM on its own goroutine and returns when ctx ends.
//
// These guard against accidents by the admins who write workflows. They do not make an
// expression written to exhaust memory impossible (chained predicates that reuse their
// element can still grow a value), which is acceptable because writing workflows is already
// a trusted permission.
const (
	maxExpressionLen   = 4096
	maxExpressionNodes = 500
	maxPredicateDepth  = 2
	// exprMemoryBudget is in the VM's units: elements allocated over one evaluation.
	exprMemoryBudget = 100_000
	// maxExpressionText bounds the text `replace` may build.
	maxExpressionText = 1 << 20
)

// exprBuiltins is the curated set: text, conversion, maths and list helpers.
var exprBuiltins = []string{
	// text
	"trim", "trimPrefix", "trimSuffix", "upper", "lower", "split", "splitAfter", "join",
	"indexOf", "lastIndexOf", "hasPrefix", "hasSuffix",
	// conversion
	"len", "type", "int", "float", "string", "toJSON", "fromJSON", "toBase64", "fromBase64",
	// maths
	"abs", "ceil", "floor", "round", "max", "min", "mean", "median", "sum",
	// lists and maps
	"all", "none", "any", "one", "filter", "map", "find", "findIndex", "findLast",
	"findLastIndex", "count", "groupBy", "sortBy", "first", "last", "get", "take", "keys",
	"values", "toPairs", "fromPairs", "reverse", "uniq", "concat", "flatten", "sort",
}

// exprFunctions are Floh's own functions; replace stands in for expr's unbounded one.
var exprFunctions = []string{"replace"}

// Program is a compiled expression, safe for concurrent Eval.
type Program struct {
	src  string
	prog *vm.Program
}

// Compile checks src against the variable names a run will have and compiles it. Any name
// outside names is an error, so a typo fails at publish time rather than mid-run.
func Compile(src string, names []string) (p *Program, err error) {
	tree, err := parseExpression(src)
	if err != nil {
		return nil, err
	}
	if err := checkExpressionShape(src, tree.Node); err != nil {
		return nil, err
	}
	// Every name is of unknown type: variables are JSON values whose shape the checker
	// cannot know, so only names are checked at compile time.
	env := make(types.Map, len(names))
	for _, n := range names {
		env[n] = types.Any
	}
	opts := []expr.Option{
		expr.Env(env),
		expr.MaxNodes(maxExpressionNodes),
		expr.DisableAllBuiltins(),
		expr.Function("replace", boundedReplace, new(func(string, string, string) string)),
	}
	for _, b := range exprBuiltins {
		opts = append(opts, expr.EnableBuiltin(b))
	}
	// expr is third-party code fed admin input: a panic in its compiler must be an invalid
	// expression, not a crashed request.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, invalid(src, fmt.Errorf("%v", r))
		}
	}()
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, invalid(src, err)
	}
	// expr's checker lets unknown names through in a few positions (under a member of a
	// value of unknown type, for one), so every name read is checked here too.
	for _, n := range readNames(tree.Node) {
		if !slices.Contains(names, n) {
			return nil, invalid(src, fmt.Errorf("unknown name %s", n))
		}
	}
	return &Program{src: src, prog: prog}, nil
}

// Eval runs the program over vars. The caller bounds wall-clock time through ctx: Eval runs
// the VM on a goroutine and returns ctx's error as soon as ctx ends. The VM cannot be stopped,
// so that goroutine finishes on its own in the background; the limits described above keep
// that short. vars is deep-copied first so the abandoned goroutine never reads a map the
// caller goes on to change.
func (p *Program) Eval(ctx context.Context, vars map[string]any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("expression `%s` was not evaluated: %w", quoted(p.src), err)
	}
	env := make(map[string]any, len(vars))
	for k, v := range vars {
		env[k] = copyJSON(v)
	}
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		machine := vm.VM{MemoryBudget: exprMemoryBudget}
		v, err := machine.Run(p.prog, env)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("expression `%s` failed: %s", quoted(p.src), plain(r.err))
		}
		return r.v, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("expression `%s` did not finish in time: %w", quoted(p.src), ctx.Err())
	}
}

// ExpressionNames lists the top-level variables src reads ("targetUser" for
// `targetUser.email != ""`), sorted, for lint. Only a syntax error is an error here; Compile
// checks the rest.
func ExpressionNames(src string) ([]string, error) {
	tree, err := parseExpression(src)
	if err != nil {
		return nil, err
	}
	return readNames(tree.Node), nil
}

// readNames lists the top-level names an expression reads as variables: not names called as
// functions, not names declared with let, not a bare builtin (a function value), not $env.
func readNames(root ast.Node) []string {
	names := map[string]bool{}
	declared := map[string]bool{}
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		switch x := n.(type) {
		case *ast.IdentifierNode:
			if x.Value != "$env" && !slices.Contains(exprBuiltins, x.Value) && !slices.Contains(exprFunctions, x.Value) {
				names[x.Value] = true
			}
			return
		case *ast.CallNode:
			if _, ok := x.Callee.(*ast.IdentifierNode); ok {
				for _, a := range x.Arguments {
					walk(a)
				}
				return
			}
		case *ast.VariableDeclaratorNode:
			declared[x.Name] = true
		}
		for _, c := range children(n) {
			walk(c)
		}
	}
	walk(root)
	for n := range declared {
		delete(names, n)
	}
	return slices.Sorted(maps.Keys(names))
}

// parseExpression parses src with expr's default grammar after the size checks.
func parseExpression(src string) (*parser.Tree, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("expression is empty")
	}
	if len(src) > maxExpressionLen {
		return nil, fmt.Errorf("expression `%s` is invalid: it is longer than %d characters", quoted(src), maxExpressionLen)
	}
	tree, err := safeParse(src)
	if err != nil {
		return nil, invalid(src, err)
	}
	return tree, nil
}

// safeParse turns a panic in expr's parser into an error, as Compile does for its compiler.
func safeParse(src string) (tree *parser.Tree, err error) {
	defer func() {
		if r := recover(); r != nil {
			tree, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return parser.Parse(src)
}

// checkExpressionShape refuses what the limits above rule out: let, and builtins outside the curated
// set (expr parses predicates such as reduce whether or not they are enabled), and deeply
// nested predicates.
func checkExpressionShape(src string, root ast.Node) error {
	var problem error
	var walk func(n ast.Node, predicates int)
	walk = func(n ast.Node, predicates int) {
		if n == nil || problem != nil {
			return
		}
		switch x := n.(type) {
		case *ast.VariableDeclaratorNode:
			problem = errors.New("let is not supported; compute the value in a transform step and use its name")
			return
		case *ast.CallNode:
			// With expr's default grammar every function Floh offers parses as a builtin, so
			// a call is a call of a variable, which holds JSON and never a function.
			problem = errors.New("only functions can be called")
			if id, ok := x.Callee.(*ast.IdentifierNode); ok {
				problem = fmt.Errorf("function %s is not available", id.Value)
			}
			return
		case *ast.BuiltinNode:
			if !slices.Contains(exprBuiltins, x.Name) && !slices.Contains(exprFunctions, x.Name) {
				problem = fmt.Errorf("function %s is not available", x.Name)
				return
			}
		case *ast.PredicateNode:
			predicates++
			if predicates > maxPredicateDepth {
				problem = fmt.Errorf("predicates (map, filter, any, ...) are nested more than %d deep", maxPredicateDepth)
				return
			}
		}
		for _, child := range children(n) {
			walk(child, predicates)
		}
	}
	walk(root, 0)
	if problem != nil {
		return invalid(src, problem)
	}
	return nil
}

// children lists a node's direct children, as ast.Walk visits them.
func children(n ast.Node) []ast.Node {
	switch x := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{x.Node}
	case *ast.BinaryNode:
		return []ast.Node{x.Left, x.Right}
	case *ast.ChainNode:
		return []ast.Node{x.Node}
	case *ast.MemberNode:
		return []ast.Node{x.Node, x.Property}
	case *ast.SliceNode:
		return []ast.Node{x.Node, x.From, x.To}
	case *ast.CallNode:
		return append([]ast.Node{x.Callee}, x.Arguments...)
	case *ast.BuiltinNode:
		return x.Arguments
	case *ast.PredicateNode:
		return []ast.Node{x.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{x.Value, x.Expr}
	case *ast.SequenceNode:
		return x.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{x.Cond, x.Exp1, x.Exp2}
	case *ast.ArrayNode:
		return x.Nodes
	case *ast.MapNode:
		return x.Pairs
	case *ast.PairNode:
		return []ast.Node{x.Key, x.Value}
	}
	return nil
}

// boundedReplace is strings.ReplaceAll refusing an empty old text (which inserts new between
// every character) and results over maxExpressionText: nested replaces whose new text
// contains the old would otherwise multiply the length at every level.
func boundedReplace(params ...any) (any, error) {
	s, _ := params[0].(string)
	old, _ := params[1].(string)
	repl, _ := params[2].(string)
	if old == "" {
		return nil, errors.New("replace needs a non-empty text to look for")
	}
	if n := strings.Count(s, old); len(s)+n*(len(repl)-len(old)) > maxExpressionText {
		return nil, fmt.Errorf("replace would build more than %d bytes of text", maxExpressionText)
	}
	return strings.ReplaceAll(s, old, repl), nil
}

// quoted is an expression as error messages show it: on one line, clipped.
func quoted(src string) string {
	return clip(strings.Join(strings.Fields(src), " "))
}

// invalid words a compile-time error for an admin.
func invalid(src string, err error) error {
	return fmt.Errorf("expression `%s` is invalid: %s", quoted(src), plain(err))
}

// plain renders an expr error on one line: its message and position, without the multi-line
// snippet expr draws.
func plain(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Snippet != "" {
			return fmt.Sprintf("%s (line %d, column %d)", fe.Message, fe.Line, fe.Column+1)
		}
		return fe.Message
	}
	return err.Error()
}
