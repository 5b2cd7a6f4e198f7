package row

import (
	"testing"

	"github.com/custos-dev/custos/internal/store"
)

func TestCache(t *testing.T) {
	keyed := store.Customer{ID: "c-1", Site: "store-1", Key: []byte("wrapped")}
	loads := 0
	load := func(v store.Customer, err error) func() (store.Customer, error) {
		return func() (store.Customer, error) { loads++; return v, err }
	}
	read := func(c *Cache, v store.Customer) store.Customer {
		t.Helper()
		got, err := c.Customer(v.ID, load(v, nil))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("keeps a keyed row", func(t *testing.T) {
		c, loads0 := NewCache(true), loads
		read(c, keyed)
		read(c, keyed)
		if loads-loads0 != 1 {
			t.Fatalf("%d loads for two reads, want 1", loads-loads0)
		}
	})
	t.Run("keeps no row without a key, and no error", func(t *testing.T) {
		c := NewCache(true)
		read(c, store.Customer{ID: "c-2"})
		c.Customer("c-3", load(store.Customer{}, store.ErrNotFound))
		if c.Has("customer", "c-2") || c.Has("customer", "c-3") {
			t.Fatal("kept a row without a key, or a miss")
		}
	})
	t.Run("off keeps and finds nothing", func(t *testing.T) {
		c := NewCache(true)
		read(c, keyed)
		c.SetOn(false)
		read(c, keyed)
		if c.Has("customer", "c-1") {
			t.Fatal("an off cache kept a row")
		}
		c.SetOn(true)
		read(c, keyed)
		if !c.Has("customer", "c-1") {
			t.Fatal("a cache turned on again keeps nothing")
		}
	})
	t.Run("a read that raced a change keeps nothing", func(t *testing.T) {
		c := NewCache(true)
		stale := keyed
		_, err := c.Customer("c-1", func() (store.Customer, error) {
			c.ForgetCustomer("c-1") // the change commits while the old row is read
			return stale, nil
		})
		if err != nil || c.Has("customer", "c-1") {
			t.Fatalf("the row read before the change was kept (%v)", err)
		}
		_, err = c.Ticket("T-1", func() (store.Ticket, error) {
			c.Drop()
			return store.Ticket{ID: "T-1"}, nil
		})
		if err != nil || c.Has("ticket", "T-1") {
			t.Fatalf("the ticket read before the drop was kept (%v)", err)
		}
	})
	t.Run("forget", func(t *testing.T) {
		c := NewCache(true)
		read(c, keyed)
		c.Ticket("T-1", func() (store.Ticket, error) { return store.Ticket{ID: "T-1"}, nil })
		c.ForgetCustomer("c-1")
		c.ForgetTicket("T-1")
		if c.Has("customer", "c-1") || c.Has("ticket", "T-1") {
			t.Fatal("a forgotten row is still kept")
		}
	})
}
