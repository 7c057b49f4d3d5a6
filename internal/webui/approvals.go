package webui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// The approval queue and its decisions. Deciding is never one keystroke:
// the decision form has no field that submits it on Enter, and approving a
// high or critical action first shows a confirmation page (POST
// /approvals/decide without confirm=yes answers it, and changes nothing).

type approvalsData struct {
	Counts       map[mlops.ActionStatus]int64
	PendingCount int64
	Pending      []pendingAction
	PendingNext  string
	PendingFirst string
	PendingPaged bool
	History      []mlops.AgentAction
	HistoryNext  string
	HistoryFirst string
	HistoryPaged bool
}

// pendingAction is an action of the queue with what the caller needs to
// decide it.
type pendingAction struct {
	mlops.AgentAction
	Expiry   string          // "expires in 2 h 13 min", "expired", or "" (never)
	Expired  bool            // past its expiry, though not yet marked expired
	Soon     bool            // expires within the hour
	Yours    bool            // the caller proposed it, so may not decide it
	Approved *mlops.Approval // the caller's own approval of it, if any
	Confirm  bool            // approving it asks for a second confirmation
}

// pending describes a for the caller of r.
func (s *server) pending(r *http.Request, a mlops.AgentAction) pendingAction {
	now := s.now().UTC()
	v := pendingAction{AgentAction: a, Yours: proposedByCaller(r, a), Confirm: needsConfirmation(a.RiskLevel)}
	if a.ExpiresAt != nil {
		left := a.ExpiresAt.Sub(now)
		v.Expiry, v.Expired, v.Soon = countdown(now, *a.ExpiresAt), left <= 0, left > 0 && left < time.Hour
	}
	if p := caller(r); p.Authenticated() {
		v.Approved = approvalBy(a, p.Name)
	}
	return v
}

// needsConfirmation reports whether approving an action of risk asks for a
// second confirmation.
func needsConfirmation(risk mlops.RiskLevel) bool {
	return risk == mlops.RiskHigh || risk == mlops.RiskCritical
}

// proposedByCaller reports whether the signed-in caller of r proposed a;
// the store refuses their decision on it (in the open mode everyone is
// anonymous, and nobody is refused).
func proposedByCaller(r *http.Request, a mlops.AgentAction) bool {
	p := caller(r)
	return p.Authenticated() && a.ProposedBy == p.Name && a.ProposedByKind == p.Kind
}

// approvalBy returns name's approval of a, or nil.
func approvalBy(a mlops.AgentAction, name string) *mlops.Approval {
	for i := range a.Approvals {
		if a.Approvals[i].By == name {
			return &a.Approvals[i]
		}
	}
	return nil
}

func (s *server) approvals(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := approvalsData{}
	var err error
	if d.Counts, err = s.st.ActionCountByStatus(ctx); err != nil {
		return err
	}
	d.PendingCount = d.Counts[mlops.ActionPending]
	pending, next, err := s.st.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true,
		Page: store.Page{Limit: pageSize, Cursor: q.Get("pcursor")}})
	if err != nil {
		return err
	}
	for _, a := range pending {
		d.Pending = append(d.Pending, s.pending(r, a))
	}
	if next != "" {
		d.PendingNext = withQuery(r, "pcursor", next)
	}
	d.PendingPaged, d.PendingFirst = q.Get("pcursor") != "", withQuery(r, "pcursor", "")
	if d.History, next, err = s.st.ActionDecidedList(ctx, store.Page{Limit: pageSize, Cursor: q.Get("hcursor")}); err != nil {
		return err
	}
	if next != "" {
		d.HistoryNext = withQuery(r, "hcursor", next) + "#history"
	}
	d.HistoryPaged, d.HistoryFirst = q.Get("hcursor") != "", withQuery(r, "hcursor", "")+"#history"
	s.render(w, r, http.StatusOK, "approvals", "Approvals", "approvals", d)
	return nil
}

// confirmData is the confirmation page of an approval.
type confirmData struct {
	A        pendingAction
	Comment  string
	Reviewer string // the name typed in the open mode, carried to the confirmed post
	// Nth is the approval this one would be (1 of 2); Final: it approves
	// the action.
	Nth   int
	Final bool
}

func (s *server) decide(w http.ResponseWriter, r *http.Request) error {
	actionID := r.PostFormValue("action_id")
	decision := r.PostFormValue("decision")
	back := "/approvals"
	if actionID == "" || (decision != "approve" && decision != "reject") {
		redirect(w, r, back, "error", "The form was incomplete: choose Approve or Reject on an action.")
		return nil
	}
	reviewer, err := actingName(w, r, "reviewer")
	if err != nil {
		redirect(w, r, back, "error", fmt.Sprintf("Action %s was not decided: %s.", actionID, strings.TrimPrefix(err.Error(), "invalid input: ")))
		return nil
	}
	// Browsers send a textarea's line breaks as CRLF.
	comment := strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("comment"), "\r\n", "\n"))
	ctx := actAs(r, reviewer)
	a, err := s.st.ActionGet(ctx, actionID)
	switch {
	case errors.Is(err, mlops.ErrNotFound):
		redirect(w, r, back, "error", fmt.Sprintf("Action %s does not exist (any more); nothing was decided.", actionID))
		return nil
	case err != nil:
		return err
	}
	// The page shows the proposer no buttons; this is a stale or forged form.
	if proposedByCaller(r, a) {
		return &httpError{status: http.StatusForbidden, back: back, msg: fmt.Sprintf(
			"You proposed action %s, so you cannot %s it: another reviewer must decide. Nothing was recorded.", actionID, decision)}
	}
	if a.Status == mlops.ActionPending && decision == "approve" {
		if ap := approvalBy(a, reviewer); ap != nil {
			redirect(w, r, back, "warn", fmt.Sprintf("You (%s) already approved action %s at %s; the next approval must come from another reviewer. Nothing was recorded.",
				reviewer, actionID, ap.At.UTC().Format("2006-01-02 15:04:05 UTC")))
			return nil
		}
		if needsConfirmation(a.RiskLevel) && r.PostFormValue("confirm") != "yes" {
			d := confirmData{A: s.pending(r, a), Comment: comment, Reviewer: reviewer, Nth: len(a.Approvals) + 1}
			d.Final = d.Nth >= a.RequiredApprovals
			s.render(w, r, http.StatusOK, "confirm", "Confirm approval of "+actionID, "approvals", d)
			return nil
		}
	}
	if decision == "approve" {
		a, err = s.st.ActionApprove(ctx, actionID, reviewer, comment)
	} else {
		a, err = s.st.ActionReject(ctx, actionID, reviewer, comment)
	}
	var te *mlops.TransitionError
	var ve *mlops.ValidationError
	yours := map[string]string{"approve": "approval", "reject": "rejection"}[decision]
	switch {
	case errors.As(err, &te) && te.From == string(mlops.ActionExpired):
		redirect(w, r, back, "warn", s.expiredMsg(actionID, te, yours))
		return nil
	case errors.As(err, &te):
		redirect(w, r, back, "warn", s.lostRace(te, "action "+actionID, yours))
		return nil
	case errors.As(err, &ve):
		redirect(w, r, back, "error", fmt.Sprintf("Action %s was not decided: %s.", actionID, strings.TrimPrefix(ve.Error(), "invalid input: ")))
		return nil
	case errors.Is(err, mlops.ErrNotFound):
		redirect(w, r, back, "error", fmt.Sprintf("Action %s does not exist (any more); nothing was decided.", actionID))
		return nil
	case errors.Is(err, mlops.ErrForbidden):
		return &httpError{status: http.StatusForbidden, back: back, msg: refusal(err, mlops.ErrForbidden) + " Nothing was recorded."}
	case errors.Is(err, mlops.ErrConflict):
		// The same reviewer approving twice (from two tabs).
		redirect(w, r, back, "warn", refusal(err, mlops.ErrConflict)+" Nothing was recorded.")
		return nil
	case err != nil:
		return err
	}
	s.log.InfoContext(ctx, "webui: action decided", "action_id", actionID, "status", string(a.Status), "by", reviewer)
	if a.Status == mlops.ActionPending {
		redirect(w, r, back, "ok", fmt.Sprintf("Your approval of action %s is recorded (%d of %d approvals). It stays pending until another reviewer approves it too.",
			actionID, len(a.Approvals), a.RequiredApprovals))
		return nil
	}
	redirect(w, r, back, "ok", fmt.Sprintf("Action %s %s by %s.", actionID, a.Status, reviewer))
	return nil
}

// expiredMsg words a decision that came after the action expired.
func (s *server) expiredMsg(actionID string, te *mlops.TransitionError, yours string) string {
	msg := fmt.Sprintf("Action %s expired", actionID)
	if t, err := time.Parse(time.RFC3339, te.At); err == nil {
		msg += " at " + t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + age(s.now().UTC(), t) + ")"
	}
	return msg + " before anyone decided it; your " + yours + " was not recorded. The agent must propose it again."
}

// refusal turns a store refusal ("rita already approved action x; ...:
// conflict") into a sentence for a page.
func refusal(err, sentinel error) string {
	return capitalize(strings.TrimSuffix(err.Error(), ": "+sentinel.Error())) + "."
}
