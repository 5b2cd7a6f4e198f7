package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

func testAlerts(t *testing.T, s store.Store) {
	ctx := t.Context()
	if as, err := s.Alerts(ctx, 10); err != nil || len(as) != 0 {
		t.Errorf("Alerts of an empty store = %v, %v; want none", as, err)
	}
	in := []store.Alert{
		{Actor: "emp-1", Time: base, Score: 0.5, Reasons: []string{"volume"}, Records: 12, Kind: "volume", Detail: []byte(`{"n":12}`)},
		{Actor: "emp-2", Time: base.Add(2 * time.Minute), Score: 1, Reasons: []string{"canary", "after hours"}, Records: 1, Kind: "canary", Action: "suspend"},
		{Actor: "emp-3", Time: base.Add(time.Minute), Score: 0.75, Kind: "breadth"},
	}
	ids := map[int64]bool{}
	for i := range in {
		id, err := s.AddAlert(ctx, in[i])
		if err != nil {
			t.Fatal(err)
		}
		if ids[id] {
			t.Errorf("AddAlert returned id %d twice", id)
		}
		ids[id] = true
		in[i].ID = id
	}
	equal := func(a, b store.Alert) bool {
		return a.ID == b.ID && a.Actor == b.Actor && a.Time.Equal(b.Time) && a.Score == b.Score &&
			slices.Equal(a.Reasons, b.Reasons) && a.Records == b.Records && a.Kind == b.Kind &&
			a.Action == b.Action && bytes.Equal(a.Detail, b.Detail)
	}
	got, err := s.Alerts(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Alert{in[1], in[2], in[0]}; !slices.EqualFunc(got, want, equal) {
		t.Errorf("Alerts = %+v\nwant newest first %+v", got, want)
	}
	got, err = s.Alerts(ctx, 2)
	if err != nil || len(got) != 2 || got[0].ID != in[1].ID || got[1].ID != in[2].ID {
		t.Errorf("Alerts(2) = %+v, %v; want the 2 newest", got, err)
	}
	if err := s.SetAlertAction(ctx, in[0].ID, "stepup"); err != nil {
		t.Fatal(err)
	}
	got, err = s.Alerts(ctx, 10)
	if err != nil || len(got) != 3 || got[2].Action != "stepup" || got[0].Action != "suspend" {
		t.Errorf("Alerts after SetAlertAction = %+v, %v; want the oldest with action stepup", got, err)
	}
	wantErr(t, "SetAlertAction(missing)", s.SetAlertAction(ctx, in[1].ID+in[2].ID+in[0].ID+1000, "suspend"), store.ErrNotFound)
}
