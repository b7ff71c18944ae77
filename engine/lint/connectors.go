package lint

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"floh/connectors"
	"floh/engine/workflow"
)

// The rules about the systems a workflow calls: the instances, commands and params of its
// connector steps, and what happens when a step that changes a system fails.

// lintConnectors: UNKNOWN_CONNECTOR, UNKNOWN_COMMAND, MISSING_REQUIRED_PARAM and
// PARAM_TYPE_MISMATCH against the command's schema.
func lintConnectors(g *graph) []Finding {
	var out []Finding
	for i, s := range g.nodes {
		switch s.Type {
		case workflow.TypeNotification:
			// An email instance is optional here (SMTP_URL serves when there is none), and a
			// templated one is only known to the run.
			ref, _ := s.Config["connectorId"].(string)
			if strings.TrimSpace(ref) == "" || workflow.HasTemplate(ref) {
				continue
			}
			inst, ok := g.connector(ref)
			switch {
			case !ok:
				out = append(out, errorFinding(CodeUnknownConnector, s.ID, "no connector is named or has the id %q", ref))
			case inst.Type.Name != workflow.EmailConnectorType:
				out = append(out, errorFinding(CodeUnknownConnector, s.ID, "%q is a connector of type %s, not email; a notification sends email through an email connector", ref, typeLabel(inst.Type)))
			}
		case workflow.TypeConnector:
			out = append(out, lintConnectorStep(s, g.conns[i])...)
		}
	}
	return out
}

func lintConnectorStep(s *workflow.Step, c *connStep) []Finding {
	switch {
	case c.refTemplated:
		// The run renders the reference and checks the instance, command and params then.
		if strings.TrimSpace(c.command) == "" {
			return []Finding{errorFinding(CodeUnknownCommand, s.ID, "no command is chosen")}
		}
		return nil
	case strings.TrimSpace(c.ref) == "":
		return []Finding{errorFinding(CodeUnknownConnector, s.ID, "no connector is chosen")}
	case !c.found:
		return []Finding{errorFinding(CodeUnknownConnector, s.ID, "no connector is named or has the id %q", c.ref)}
	case strings.TrimSpace(c.command) == "":
		return []Finding{errorFinding(CodeUnknownCommand, s.ID, "no command is chosen")}
	case c.cmdTemplated:
		return nil
	case c.cmd == nil:
		typ := c.inst.Type
		commands := make([]string, len(typ.Commands))
		for i, cmd := range typ.Commands {
			commands[i] = cmd.Name
		}
		return []Finding{errorFinding(CodeUnknownCommand, s.ID, "%q is not a command of %s (commands: %s)", c.command, typeLabel(typ), strings.Join(commands, ", "))}
	}
	cmd := c.cmd
	var out []Finding
	var missing []string
	for _, f := range cmd.Params {
		if v, ok := c.params[f.Name]; f.Required && (!ok || v == nil || v == "") {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		out = append(out, errorFinding(CodeMissingRequiredParam, s.ID, "the command %s needs %s", cmd.Name, strings.Join(missing, ", ")))
	}
	if problems := paramProblems(cmd, c.params); len(problems) > 0 {
		out = append(out, errorFinding(CodeParamTypeMismatch, s.ID, "the command %s would refuse these params: %s", cmd.Name, strings.Join(problems, "; ")))
	}
	return out
}

// Messages do not start with a command's name: a page capitalises a message's first letter,
// and createAccount is not CreateAccount.

// paramProblems checks the params a step gives against the command's schema with the
// connector contract's own checker, so lint and the call agree. A value holding a template is
// checked at run time, once rendered. A param the command does not take is reported here too:
// the call would refuse it just the same.
func paramProblems(cmd *connectors.Command, params map[string]any) []string {
	var problems []string
	var fields []connectors.Field
	values := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		v := params[name]
		f := cmd.Param(name)
		if f == nil {
			names := make([]string, len(cmd.Params))
			for i, p := range cmd.Params {
				names[i] = p.Name
			}
			problems = append(problems, fmt.Sprintf("%q is not a param of %s (params: %s)", name, cmd.Name, strings.Join(names, ", ")))
			continue
		}
		if s, isStr := v.(string); isStr && workflow.HasTemplate(s) {
			continue
		}
		// Missing values are MISSING_REQUIRED_PARAM's; only the type is checked here.
		field := *f
		field.Required = false
		fields = append(fields, field)
		values[name] = v
	}
	if len(fields) > 0 {
		_, fieldProblems := connectors.CheckConfig(&connectors.Type{Name: cmd.Name, Config: fields}, values)
		for _, p := range fieldProblems {
			problems = append(problems, p.Message)
		}
	}
	return problems
}

// flohSystem is how messages name Floh among the systems a workflow changes.
const flohSystem = "Floh"

// lintProvisioningChain: PROVISIONING_CHAIN_NO_ERROR_EDGE. A workflow that changes two or
// more systems leaves them disagreeing when it stops half-way, so each of its mutating
// connector steps needs an "error" edge that tells someone or cleans up. Systems are
// connector instances by identity, and Floh itself through user_create and profile_update.
func lintProvisioningChain(g *graph) []Finding {
	var systems []string // names, in document order
	seen := map[string]bool{}
	add := func(identity, name string) {
		if !seen[identity] {
			seen[identity] = true
			systems = append(systems, name)
		}
	}
	for i, s := range g.nodes {
		switch {
		case s.Type == workflow.TypeUserCreate, s.Type == workflow.TypeProfileUpdate:
			// No instance id can be "" (newGraph falls back to the reference), so Floh's
			// identity never meets an instance's.
			add("", flohSystem)
		case g.conns[i] != nil && g.conns[i].mutating:
			add(g.conns[i].inst.ID, fmt.Sprintf("%q", g.conns[i].inst.Name))
		}
	}
	if len(systems) < 2 {
		return nil
	}
	consequence := "a failure here fails the run half-way, leaving what earlier steps changed in place and nobody told"
	if g.d.ErrorStrategy == workflow.StrategyContinue {
		consequence = "with errorStrategy continue, a failure here is passed over and the run goes on as if the step had worked"
	}
	var out []Finding
	for i, s := range g.nodes {
		c := g.conns[i]
		if c == nil || !c.mutating || g.routed(i, workflow.OnError) {
			continue
		}
		out = append(out, warning(CodeProvisioningChainNoErrorEdge, s.ID,
			"no \"error\" edge leaves it, yet its command %s changes %q, one of the %d systems this workflow changes (%s): %s; route \"error\" to a notification or a clean-up step",
			c.cmd.Name, c.inst.Name, len(systems), strings.Join(systems, ", "), consequence))
	}
	return out
}

// lintCompensation: NO_COMPENSATION, for a mutating connector step whose command declares no
// way to undo it. user_create and profile_update have built-in undos.
func lintCompensation(g *graph) []Finding {
	var out []Finding
	for i, s := range g.nodes {
		c := g.conns[i]
		if c == nil || !c.mutating || c.cmd.Compensation != nil {
			continue
		}
		out = append(out, info(CodeNoCompensation, s.ID,
			"the command %s on %q declares no compensation: rolling back a run cannot undo it, and leaves it to an admin to undo by hand", c.cmd.Name, c.inst.Name))
	}
	return out
}
