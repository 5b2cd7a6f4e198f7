package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"

	"github.com/custos-dev/custos/internal/policy/defaults"
)

// Entity types and ids the engine builds for every request. The schema
// MUST declare them as the default pack's custos.cedarschema does.
const (
	TypePrincipal = "Principal" // the caller: Principal::"<principal id>"
	TypeCustomer  = "Customer"  // the record: Customer::"<customer id>"
	TypeService   = "Service"   // actions on no customer: Service::"custos"
	TypeAction    = "Action"
	ServiceID     = "custos"
)

// Field action prefixes: "read.<field>" allowed means the field in full,
// otherwise "mask.<field>" allowed means masked, otherwise withheld.
const (
	FieldFullPrefix   = "read."
	FieldMaskedPrefix = "mask."
)

// Reason codes a deny carries (contract error codes).
const (
	ReasonForbidden       = "forbidden"
	ReasonPurposeRequired = "purpose_required"
	ReasonPurposeInvalid  = "purpose_invalid"
	ReasonQuotaExceeded   = "quota_exceeded"
)

// Annotations custos reads on policies.
const (
	// AnnotationID names a policy (@id("...")); it is what Decision.Policies
	// reports. Policies without it are named "<file>:<n>" (n from 1).
	AnnotationID = "id"
	// AnnotationReason on a forbid policy gives the deny reason code
	// (@reason("quota_exceeded")); default "forbidden".
	AnnotationReason = "reason"
)

// Errors returned by Load and LoadFS.
var (
	// ErrInvalid is wrapped by every error that refuses a policy set.
	ErrInvalid = errors.New("invalid policy set")
	// ErrNoPolicies means the directory holds no *.cedar file.
	ErrNoPolicies = errors.New("no *.cedar policy files")
)

// ValidationError refuses a policy set: File (and Policy, when known)
// name the culprit. It unwraps to ErrInvalid and to the cause.
type ValidationError struct {
	File   string // file name within the directory
	Line   int    // line of the policy in File, 0 when unknown
	Policy string // policy id, "" when the whole file is at fault
	Err    error
}

// Error is one line: "file:line: policy "id": cause; cause...".
func (e *ValidationError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	msg := strings.ReplaceAll(strings.TrimSpace(e.Err.Error()), "\n", "; ")
	if e.Policy != "" {
		return fmt.Sprintf("%s: policy %q: %s", where, e.Policy, msg)
	}
	return fmt.Sprintf("%s: %s", where, msg)
}

// Unwrap returns ErrInvalid and the cause.
func (e *ValidationError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// reasonCodes are the reason annotations a forbid may carry.
var reasonCodes = []string{ReasonForbidden, ReasonQuotaExceeded, ReasonPurposeRequired, ReasonPurposeInvalid}

// providedAttrs are the attributes the engine fills, per entity type, and
// their Cedar types. A schema may declare a subset, never more: a policy
// that referred to an attribute the engine never fills would error at
// evaluation, and Cedar skips policies that error (a forbid would silently
// stop working).
var providedAttrs = map[types.EntityType]map[types.String]resolved.IsType{
	TypePrincipal: {
		"org": resolved.StringType{}, "org_kind": resolved.StringType{}, "role": resolved.StringType{},
		"site": resolved.StringType{}, "region": resolved.StringType{}, "status": resolved.StringType{},
	},
	TypeCustomer: {"region": resolved.StringType{}, "site": resolved.StringType{}, "canary": resolved.BoolType{}},
	TypeService:  {},
}

var providedContext = map[types.String]resolved.IsType{
	"purpose_kind": resolved.StringType{}, "purpose_valid": resolved.BoolType{}, "hour": resolved.LongType{},
	"quota_exceeded": resolved.BoolType{}, "self_approval": resolved.BoolType{}, "target_role": resolved.StringType{},
	"requester_org": resolved.StringType{}, "risk": resolved.StringType{},
}

// customerActions are the actions whose resource is the Customer; all
// others have Service::"custos" as resource.
func customerAction(a string) bool {
	switch a {
	case ActionRead, ActionSearch, ActionTicketCreate, ActionConsentStart, ActionConsentConfirm,
		ActionBreakGlassReq, ActionBreakGlassOK, ActionAccessesRead:
		return true
	}
	return strings.HasPrefix(a, FieldFullPrefix) || strings.HasPrefix(a, FieldMaskedPrefix)
}

// compiled is one policy with what the engine needs to know about it.
type compiled struct {
	id         cedar.PolicyID
	file       string
	reason     string // forbid policies: deny reason code
	usesAction bool   // the conditions refer to the action variable
	p          *cedar.Policy
	// run is p with its action scope dropped: the per-action lists hold a
	// policy only for the actions its scope matches, so the scope need not
	// be evaluated again on every request.
	run *cedar.Policy
}

// policyList is a PolicyIterator over a slice.
type policyList []*compiled

func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, c := range l {
			if !yield(c.id, c.run) {
				return
			}
		}
	}
}

// Engine is a compiled, validated Cedar policy set with its schema. It
// implements Authorizer, is immutable once built and safe for concurrent
// use; Authorize does no I/O.
type Engine struct {
	byID     map[cedar.PolicyID]*compiled
	byAction map[types.EntityUID]policyList // policies whose action scope may match
	// byField holds, per (read or search, field action), the field action's
	// policies minus the forbids already known not to match (see index).
	byField   map[[2]types.EntityUID]policyList
	anyAction policyList // policies with an unconstrained action scope
	actions   map[types.EntityUID]types.Entity
	fieldUID  [][2]types.EntityUID // per Fields index: read.<f>, mask.<f>
	ids       []string
	files     []string
	digest    string
	now       func() time.Time
	// principals and contexts keep the Cedar records decisions rebuild.
	principals boundedCache[principalKey, types.Record]
	contexts   boundedCache[contextKey, types.Record]
	// decisions keeps whole decisions (see Authorize). namesPrincipal and
	// namesCustomer: some policy names a principal or customer by id, so
	// the id is part of a decision's key.
	decisions                     boundedCache[decisionKey, Decision]
	namesPrincipal, namesCustomer bool
}

var _ Authorizer = (*Engine)(nil)

// Default compiles the embedded default pack (internal/policy/defaults).
// It compiles on every call; keep the result. It panics only if the
// embedded pack is broken, which the package tests rule out.
func Default() *Engine {
	e, err := LoadFS(defaults.FS)
	if err != nil {
		panic("policy: internal error: default pack: " + err.Error())
	}
	return e
}

// Load reads the schema (the one *.cedarschema file) and every *.cedar file
// in dir, validates the policies against the schema and compiles them.
// When dir has no *.cedarschema the default pack's schema is used. Errors
// name the file (and policy) at fault and wrap ErrInvalid, or ErrNoPolicies.
func Load(dir string) (*Engine, error) {
	e, err := LoadFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: %w", dir, err)
	}
	return e, nil
}

// LoadFS is Load on a file system (files at its root).
func LoadFS(fsys fs.FS) (*Engine, error) {
	files, err := readPack(fsys)
	if err != nil {
		return nil, err
	}
	return compile(files)
}

// packFile is one file of a pack.
type packFile struct {
	name string
	data []byte
}

// readPack reads the schema and policy files at fsys's root, sorted by
// name. The schema, when present, comes first.
func readPack(fsys fs.FS) ([]packFile, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read policy dir: %w", err)
	}
	var out []packFile
	var schemas int
	for _, de := range ents {
		n := de.Name()
		if de.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		isSchema := strings.HasSuffix(n, ".cedarschema")
		if !isSchema && !strings.HasSuffix(n, ".cedar") {
			continue
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", n, err)
		}
		if isSchema {
			schemas++
			out = append([]packFile{{n, b}}, out...)
			continue
		}
		out = append(out, packFile{n, b})
	}
	if schemas > 1 {
		return nil, &ValidationError{File: out[0].name, Err: errors.New("more than one *.cedarschema file")}
	}
	if schemas == 0 {
		b, err := fs.ReadFile(defaults.FS, defaultSchemaFile)
		if err != nil {
			return nil, fmt.Errorf("policy: internal error: %w", err)
		}
		out = append([]packFile{{defaultSchemaFile, b}}, out...)
	}
	if len(out) == 1 {
		return nil, ErrNoPolicies
	}
	return out, nil
}

// defaultSchemaFile is the schema's name in the default pack.
const defaultSchemaFile = "custos.cedarschema"

// compile builds an Engine from files[0] (the schema) and the policy files.
func compile(files []packFile) (*Engine, error) {
	rs, err := loadSchema(files[0])
	if err != nil {
		return nil, err
	}
	v := validate.New(rs, validate.WithStrict())
	h := sha256.New()
	e := &Engine{
		byID:     map[cedar.PolicyID]*compiled{},
		byAction: map[types.EntityUID]policyList{},
		byField:  map[[2]types.EntityUID]policyList{},
		actions:  map[types.EntityUID]types.Entity{},
		now:      time.Now,
		// Records and decisions repeat: a few hundred principal shapes,
		// purpose kinds, 24 hours and a few flags.
		principals: boundedCache[principalKey, types.Record]{max: 4096},
		contexts:   boundedCache[contextKey, types.Record]{max: 4096},
		decisions:  boundedCache[decisionKey, Decision]{max: 16384}, // about 1 KiB each
	}
	for uid, a := range rs.Actions {
		e.actions[uid] = a.Entity
	}
	var all []*compiled
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.name, len(f.data))
		h.Write(f.data)
		e.files = append(e.files, f.name)
		if strings.HasSuffix(f.name, ".cedarschema") {
			continue
		}
		list, err := cedar.NewPolicyListFromBytes(f.name, f.data)
		if err != nil {
			return nil, &ValidationError{File: f.name, Err: err}
		}
		for i, p := range list {
			c := &compiled{id: cedar.PolicyID(fmt.Sprintf("%s:%d", f.name, i+1)), file: f.name, p: p}
			bad := func(err error) error {
				return &ValidationError{File: f.name, Line: p.Position().Line, Policy: string(c.id), Err: err}
			}
			ann := p.Annotations()
			if id, ok := ann[AnnotationID]; ok {
				if id == "" {
					return nil, bad(errors.New("empty @id"))
				}
				c.id = cedar.PolicyID(id)
			}
			if prev, dup := e.byID[c.id]; dup {
				return nil, bad(fmt.Errorf("duplicate policy id (also in %s)", prev.file))
			}
			if r, ok := ann[AnnotationReason]; ok {
				if p.Effect() != cedar.Forbid {
					return nil, bad(errors.New("@reason is only for forbid policies"))
				}
				if !slices.Contains(reasonCodes, string(r)) {
					return nil, bad(fmt.Errorf("@reason(%q) is not one of %s", r, strings.Join(reasonCodes, ", ")))
				}
				c.reason = string(r)
			} else if p.Effect() == cedar.Forbid {
				c.reason = ReasonForbidden
			}
			if err := v.Policy("", (*xast.Policy)(p.AST())); err != nil {
				return nil, bad(err)
			}
			c.usesAction = usesActionVar(p)
			e.namesPrincipal = e.namesPrincipal || namesEntity(p, TypePrincipal)
			e.namesCustomer = e.namesCustomer || namesEntity(p, TypeCustomer)
			stripped := *(*xast.Policy)(p.AST())
			stripped.Action = xast.ScopeTypeAll{}
			c.run = cedar.NewPolicyFromAST((*ast.Policy)(&stripped))
			e.byID[c.id] = c
			e.ids = append(e.ids, string(c.id))
			all = append(all, c)
		}
	}
	for _, f := range Fields {
		e.fieldUID = append(e.fieldUID, [2]types.EntityUID{actionUID(FieldFullPrefix + f), actionUID(FieldMaskedPrefix + f)})
	}
	e.index(all)
	e.digest = hex.EncodeToString(h.Sum(nil))
	return e, nil
}

// loadSchema parses and resolves the schema and checks that it declares
// nothing the engine does not provide.
func loadSchema(f packFile) (*resolved.Schema, error) {
	var s schema.Schema
	s.SetFilename(f.name)
	if err := s.UnmarshalCedar(f.data); err != nil {
		return nil, &ValidationError{File: f.name, Err: err}
	}
	rs, err := s.Resolve()
	if err != nil {
		return nil, &ValidationError{File: f.name, Err: err}
	}
	if err := checkSchema(rs); err != nil {
		return nil, &ValidationError{File: f.name, Err: err}
	}
	return rs, nil
}

// checkSchema refuses a schema that declares entity types, attributes or
// context keys the engine does not fill, or actions on resources the engine
// does not send.
func checkSchema(rs *resolved.Schema) error {
	for _, et := range sortedKeys(rs.Enums) {
		return fmt.Errorf("enum entity type %s: not supported", et)
	}
	for _, et := range sortedKeys(rs.Entities) {
		ent := rs.Entities[et]
		prov, ok := providedAttrs[et]
		if !ok {
			return fmt.Errorf("entity type %s: the engine only builds %s, %s and %s", et, TypePrincipal, TypeCustomer, TypeService)
		}
		if len(ent.ParentTypes) > 0 {
			return fmt.Errorf("entity type %s: the engine builds no parents", et)
		}
		if err := checkRecord(string(et), ent.Shape, prov); err != nil {
			return err
		}
	}
	for _, uid := range sortedKeys(rs.Actions) {
		a := rs.Actions[uid]
		if a.AppliesTo == nil {
			continue // an action group
		}
		for _, p := range a.AppliesTo.Principals {
			if p != TypePrincipal {
				return fmt.Errorf("action %s: principal type %s: the engine only sends %s", uid, p, TypePrincipal)
			}
		}
		want := types.EntityType(TypeService)
		if customerAction(string(uid.ID)) {
			want = TypeCustomer
		}
		for _, r := range a.AppliesTo.Resources {
			if r != want {
				return fmt.Errorf("action %s: resource type %s: the engine sends %s for this action", uid, r, want)
			}
		}
		if err := checkRecord(fmt.Sprintf("action %s context", uid), a.AppliesTo.Context, providedContext); err != nil {
			return err
		}
	}
	return nil
}

func checkRecord(what string, rec resolved.RecordType, prov map[types.String]resolved.IsType) error {
	for _, k := range sortedKeys(rec) {
		want, ok := prov[k]
		if !ok {
			return fmt.Errorf("%s: attribute %q is not provided by the engine", what, k)
		}
		if fmt.Sprintf("%T", rec[k].Type) != fmt.Sprintf("%T", want) {
			return fmt.Errorf("%s: attribute %q must be of type %s", what, k, typeName(want))
		}
	}
	return nil
}

func typeName(t resolved.IsType) string {
	switch t.(type) {
	case resolved.StringType:
		return "String"
	case resolved.BoolType:
		return "Bool"
	case resolved.LongType:
		return "Long"
	}
	return fmt.Sprintf("%T", t)
}

func sortedKeys[K ~string | types.EntityUID, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return fmt.Sprint(ks[i]) < fmt.Sprint(ks[j]) })
	return ks
}

// index builds, per action, the list of policies whose action scope can
// match it, so that one evaluation only runs the policies that matter.
func (e *Engine) index(all []*compiled) {
	// ancestors: action -> itself and every group it is (transitively) in.
	anc := map[types.EntityUID]map[types.EntityUID]bool{}
	var walk func(u types.EntityUID, into map[types.EntityUID]bool)
	walk = func(u types.EntityUID, into map[types.EntityUID]bool) {
		if into[u] {
			return
		}
		into[u] = true
		for p := range e.actions[u].Parents.All() {
			walk(p, into)
		}
	}
	for u := range e.actions {
		m := map[types.EntityUID]bool{}
		walk(u, m)
		anc[u] = m
	}
	for _, c := range all {
		switch sc := c.p.AST().Action.(type) {
		case xast.ScopeTypeEq:
			e.byAction[sc.Entity] = append(e.byAction[sc.Entity], c)
		case xast.ScopeTypeIn:
			for u, a := range anc {
				if a[sc.Entity] {
					e.byAction[u] = append(e.byAction[u], c)
				}
			}
		case xast.ScopeTypeInSet:
			for u, a := range anc {
				for _, g := range sc.Entities {
					if a[g] {
						e.byAction[u] = append(e.byAction[u], c)
						break
					}
				}
			}
		default: // ScopeTypeAll or anything new: may match every action
			e.anyAction = append(e.anyAction, c)
			for u := range anc {
				e.byAction[u] = append(e.byAction[u], c)
			}
		}
	}
	// Keep file order within each list, for stable Decision.Policies.
	order := map[*compiled]int{}
	for i, c := range all {
		order[c] = i
	}
	for u, l := range e.byAction {
		sort.Slice(l, func(i, j int) bool { return order[l[i]] < order[l[j]] })
		e.byAction[u] = l
	}
	// Field decisions are asked only after the read or search was allowed,
	// with the same principal, resource and context. A forbid that applies
	// to both the main and the field action and whose conditions do not
	// refer to the action therefore evaluated to false already and would
	// again: leave it out of the field evaluation.
	for _, main := range []types.EntityUID{actionUID(ActionRead), actionUID(ActionSearch)} {
		for _, fu := range e.fieldUID {
			for _, f := range fu {
				var l policyList
				for _, c := range e.byAction[f] {
					if c.p.Effect() == cedar.Forbid && !c.usesAction && slices.Contains(e.byAction[main], c) {
						continue
					}
					l = append(l, c)
				}
				e.byField[[2]types.EntityUID{main, f}] = l
			}
		}
	}
}

// usesActionVar reports whether p's conditions refer to the action
// variable (conservatively true when that cannot be told).
func usesActionVar(p *cedar.Policy) bool {
	return anyNode(p, "conditions", func(m map[string]any) bool {
		s, ok := m["Var"].(string)
		return ok && s == "action"
	})
}

// namesEntity reports whether p names an entity of type typ by id, in its
// scope or its conditions (conservatively true when that cannot be told).
func namesEntity(p *cedar.Policy, typ string) bool {
	return anyNode(p, "", func(m map[string]any) bool {
		t, ok := m["type"].(string)
		_, id := m["id"]
		return ok && id && (t == typ || strings.HasSuffix(t, "::"+typ))
	})
}

// anyNode reports whether match holds for an object anywhere in p's JSON
// form, or in its member part only if part is not empty (conservatively
// true when p cannot be read so).
func anyNode(p *cedar.Policy, part string, match func(map[string]any) bool) bool {
	b, err := p.MarshalJSON()
	if err != nil {
		return true
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return true
	}
	if part != "" {
		m, _ := doc.(map[string]any)
		doc = m[part]
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			if match(v) {
				return true
			}
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	return walk(doc)
}

func actionUID(a string) types.EntityUID {
	return types.NewEntityUID(TypeAction, types.String(a))
}

// PolicyIDs returns the ids of the compiled policies, in file order.
func (e *Engine) PolicyIDs() []string { return slices.Clone(e.ids) }

// Files returns the names of the files the engine was built from, schema
// first.
func (e *Engine) Files() []string { return slices.Clone(e.files) }

// Digest is a hex SHA-256 over the pack's file names and contents: it
// identifies the policy version in logs and audit.
func (e *Engine) Digest() string { return e.digest }

// entities is the per-request EntityGetter: the principal, the resource and
// the schema's action entities. It belongs to one Authorize call (not safe
// for concurrent use).
type entities struct {
	principal types.Entity
	resource  types.Entity
	customer  *Resource // attributes of resource not yet built
	actions   map[types.EntityUID]types.Entity
}

func (es *entities) Get(uid types.EntityUID) (types.Entity, bool) {
	switch uid {
	case es.principal.UID:
		return es.principal, true
	case es.resource.UID:
		if es.customer != nil {
			// Built on first use: many decisions never look at the
			// customer's attributes.
			c := es.customer
			es.customer = nil
			es.resource.Attributes = types.NewRecord(types.RecordMap{
				"region": types.String(c.Region),
				"site":   types.String(c.Site),
				"canary": types.Boolean(c.Canary),
			})
		}
		return es.resource, true
	}
	ent, ok := es.actions[uid]
	return ent, ok
}

// Authorize decides r. For an allowed read or search, Decision.Fields holds
// a mode for every name in Fields, decided in the same call. A deny's
// Reason is the determining forbid's @reason; when no forbid matched, it is
// "purpose_required" or "purpose_invalid" if a read/search would have been
// allowed under a valid purpose (none given, or the one given is invalid or
// not enough), otherwise "forbidden". An empty Principal.Status counts as
// "active"; a zero Time as now.
//
// A decision is a function of the policies and of what the request shows
// them: the principal's attributes, the action, the customer's attributes,
// the context (its hour, not its time) and the ids only where a policy
// names one. Decisions repeat, so Engine keeps them: a decision's Fields and
// Policies may be shared with other callers and MUST NOT be modified.
func (e *Engine) Authorize(_ context.Context, r Request) Decision {
	// The clock is read once: the key and the decision see the same hour.
	if r.Time.IsZero() {
		r.Time = e.now()
	}
	return e.decisions.get(e.decisionKey(r), func(decisionKey) Decision { return e.decide(r) })
}

// decisionKey is what a decision on r depends on.
func (e *Engine) decisionKey(r Request) decisionKey {
	p := r.Principal
	k := decisionKey{
		principal: principalKeyOf(p),
		action:    r.Action,
		context:   contextKeyOf(r, r.Purpose.Kind, r.Purpose.Valid),
	}
	if e.namesPrincipal {
		k.principalID = p.ID
	}
	if customerAction(r.Action) {
		k.customer = customerKey{region: r.Resource.Region, site: r.Resource.Site, canary: r.Resource.Canary}
		if e.namesCustomer {
			k.customer.id = r.Resource.ID
		}
	}
	return k
}

// decide evaluates r (its Time set) with Cedar.
func (e *Engine) decide(r Request) Decision {
	es := e.entities(r)
	req := cedar.Request{
		Principal: es.principal.UID,
		Action:    actionUID(r.Action),
		Resource:  es.resource.UID,
		Context:   e.contextRecord(r, r.Purpose.Kind, r.Purpose.Valid),
	}
	ok, diag := e.eval(req, es)
	d := Decision{Allow: ok, Policies: policyIDs(nil, diag)}
	if !ok {
		d.Reason = e.denyReason(r, req, es, diag)
		return d
	}
	if r.Action == ActionRead || r.Action == ActionSearch {
		main := req.Action
		d.Fields = make(map[string]FieldMode, len(Fields))
		for i, f := range Fields {
			mode := Withheld
			req.Action = e.fieldUID[i][0]
			ok, diag := e.evalField(main, req, es)
			if ok {
				mode = Full
			} else {
				req.Action = e.fieldUID[i][1]
				if ok, diag = e.evalField(main, req, es); ok {
					mode = Masked
				}
			}
			if ok {
				d.Policies = policyIDs(d.Policies, diag)
			}
			d.Fields[f] = mode
		}
	}
	return d
}

func (e *Engine) eval(req cedar.Request, es *entities) (bool, cedar.Diagnostic) {
	pl, ok := e.byAction[req.Action]
	if !ok {
		pl = e.anyAction
	}
	dec, diag := cedar.Authorize(pl, es, req)
	return dec == cedar.Allow, diag
}

// evalField decides a field action after main was allowed.
func (e *Engine) evalField(main types.EntityUID, req cedar.Request, es *entities) (bool, cedar.Diagnostic) {
	pl, ok := e.byField[[2]types.EntityUID{main, req.Action}]
	if !ok {
		return e.eval(req, es)
	}
	if len(pl) == 0 {
		return false, cedar.Diagnostic{}
	}
	dec, diag := cedar.Authorize(pl, es, req)
	return dec == cedar.Allow, diag
}

// denyReason maps a deny to a contract code (see Authorize).
func (e *Engine) denyReason(r Request, req cedar.Request, es *entities, diag cedar.Diagnostic) string {
	if len(diag.Reasons) > 0 {
		reason := ""
		for _, dr := range diag.Reasons {
			c := e.byID[dr.PolicyID]
			if c == nil || c.reason == ReasonForbidden {
				return ReasonForbidden
			}
			if reason == "" {
				reason = c.reason
			}
		}
		return reason
	}
	if r.Action != ActionRead && r.Action != ActionSearch {
		return ReasonForbidden
	}
	// Would a valid purpose have allowed it?
	for _, kind := range []string{r.Purpose.Kind, PurposeTicket, PurposeConsent, PurposeBreakGlass} {
		if kind == "" || (kind == r.Purpose.Kind && r.Purpose.Valid) {
			continue
		}
		req.Context = e.contextRecord(r, kind, true)
		if ok, _ := e.eval(req, es); ok {
			if r.Purpose.Kind == "" {
				return ReasonPurposeRequired
			}
			return ReasonPurposeInvalid
		}
	}
	return ReasonForbidden
}

func policyIDs(into []string, diag cedar.Diagnostic) []string {
	for _, dr := range diag.Reasons {
		if !slices.Contains(into, string(dr.PolicyID)) {
			into = append(into, string(dr.PolicyID))
		}
	}
	return into
}

// entities builds the request's principal and resource entities.
func (e *Engine) entities(r Request) *entities {
	p := r.Principal
	es := &entities{actions: e.actions}
	es.principal = types.Entity{
		UID: types.NewEntityUID(TypePrincipal, types.String(p.ID)),
		Attributes: e.principals.get(principalKeyOf(p), func(k principalKey) types.Record {
			return types.NewRecord(types.RecordMap{
				"org":      types.String(k.org),
				"org_kind": types.String(k.orgKind),
				"role":     types.String(k.role),
				"site":     types.String(k.site),
				"region":   types.String(k.region),
				"status":   types.String(k.status),
			})
		}),
	}
	if customerAction(r.Action) {
		es.resource = types.Entity{UID: types.NewEntityUID(TypeCustomer, types.String(r.Resource.ID))}
		es.customer = &r.Resource
	} else {
		es.resource = types.Entity{UID: types.NewEntityUID(TypeService, ServiceID)}
	}
	return es
}

// principalKeyOf is what p's attribute record is built from (an empty
// status counts as "active").
func principalKeyOf(p Principal) principalKey {
	k := principalKey{p.Org, p.OrgKind, p.Role, p.Site, p.Region, p.Status}
	if k.status == "" {
		k.status = "active"
	}
	return k
}

// contextKeyOf is what r's Cedar context is built from, with the purpose
// given; r.Time is set (Authorize).
func contextKeyOf(r Request, kind string, valid bool) contextKey {
	return contextKey{kind: kind, valid: valid, hour: r.Time.UTC().Hour(), quotaExceeded: r.QuotaExceeded,
		selfApproval: r.SelfApproval, targetRole: r.TargetRole, requesterOrg: r.RequesterOrg, risk: r.Risk}
}

// contextRecord builds the Cedar context, with the purpose given.
func (e *Engine) contextRecord(r Request, kind string, valid bool) types.Record {
	return e.contexts.get(contextKeyOf(r, kind, valid), func(k contextKey) types.Record {
		return types.NewRecord(types.RecordMap{
			"purpose_kind":   types.String(k.kind),
			"purpose_valid":  types.Boolean(k.valid),
			"hour":           types.Long(k.hour),
			"quota_exceeded": types.Boolean(k.quotaExceeded),
			"self_approval":  types.Boolean(k.selfApproval),
			"target_role":    types.String(k.targetRole),
			"requester_org":  types.String(k.requesterOrg),
			"risk":           types.String(k.risk),
		})
	})
}

// principalKey and contextKey hold what a principal's attribute record
// and a request's context record are built from; customerKey, a customer's
// (its id only when a policy names customers); decisionKey, all a decision
// depends on.
type (
	principalKey struct{ org, orgKind, role, site, region, status string }
	contextKey   struct {
		kind, targetRole, requesterOrg, risk string
		hour                                 int
		valid, quotaExceeded, selfApproval   bool
	}
	customerKey struct {
		id, region, site string
		canary           bool
	}
	decisionKey struct {
		principal   principalKey
		principalID string
		action      string
		customer    customerKey
		context     contextKey
	}
)

// boundedCache keeps values that are built again and again (immutable
// Cedar records, decisions) for concurrent use. It is bounded: past max
// entries it starts over, and what it keeps repeats, so it refills at once.
type boundedCache[K comparable, V any] struct {
	max int
	mu  sync.RWMutex
	m   map[K]V
}

// get returns the value kept under k, or builds, keeps and returns it.
func (c *boundedCache[K, V]) get(k K, build func(K) V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = build(k)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = map[K]V{}
	}
	c.m[k] = v
	c.mu.Unlock()
	return v
}
