package canary

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// generator makes canary identities that collide with no customer.
type generator struct {
	st    Store
	shape *shape
	rng   *rand.Rand
	v     *vault.Vault
	taken map[string]bool // ids, phones and accounts handed out this run
}

type identity struct{ id, name, phone, account string }

// Name parts, in pinyin and in characters: common surnames and given names.
var (
	pinyinSurnames = []string{"Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo", "Zheng", "Liang", "Xie", "Song", "Tang"}
	pinyinGiven    = []string{"Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Tao", "Ming", "Hui", "Qiang", "Xiu", "Ping", "Gang", "Hong", "Yun", "Bo", "Lan", "Kai", "Ning", "Xin", "Yu", "Hao", "Jie", "Li", "Na", "Chao", "Hua"}
	hanSurnames    = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐")
	hanGiven       = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "华", "建国", "晓东", "丹", "平", "桂英", "志强"}
)

// next returns a fresh canary identity.
func (g *generator) next(ctx context.Context) (identity, error) {
	var c identity
	var base sample
	if len(g.shape.samples) > 0 {
		base = g.shape.samples[g.rng.IntN(len(g.shape.samples))]
	}
	// The name: characters if the sampled name is written in them.
	var parts []string
	if strings.IndexFunc(base.name, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 {
		parts = []string{string(hanSurnames[g.rng.IntN(len(hanSurnames))]), hanGiven[g.rng.IntN(len(hanGiven))]}
		c.name = parts[0] + parts[1]
	} else {
		parts = []string{pinyinSurnames[g.rng.IntN(len(pinyinSurnames))], pinyinGiven[g.rng.IntN(len(pinyinGiven))]}
		c.name = parts[0] + " " + parts[1]
	}
	var err error
	if c.id, err = g.fresh(ctx, g.newID, func(id string) error { _, err := g.st.Customer(ctx, id); return err }); err != nil {
		return c, fmt.Errorf("canary id: %w", err)
	}
	if c.phone, err = g.fresh(ctx, func(try int) string { return g.newPhone(base.phone, try) }, func(p string) error {
		_, err := g.st.CustomerByPhone(ctx, g.v.BlindIndex(vault.IndexPhone, p))
		return err
	}); err != nil {
		return c, fmt.Errorf("canary phone: %w", err)
	}
	if c.account, err = g.fresh(ctx, func(try int) string { return g.newAccount(base, parts, try) }, func(a string) error {
		_, err := g.st.CustomerByAccount(ctx, g.v.BlindIndex(vault.IndexAccount, a))
		return err
	}); err != nil {
		return c, fmt.Errorf("canary account: %w", err)
	}
	return c, nil
}

// fresh draws candidates until one is unused by this run and unknown to the
// store (lookup returns store.ErrNotFound).
func (g *generator) fresh(ctx context.Context, draw func(try int) string, lookup func(string) error) (string, error) {
	for try := 0; try < 200; try++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		s := draw(try)
		if s == "" || g.taken[s] {
			continue
		}
		err := lookup(s)
		if errors.Is(err, store.ErrNotFound) {
			g.taken[s] = true
			return s, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("no unused value found after 200 tries")
}

// newID draws an id of the real ids' pattern: half the time among their
// numbers, half just beyond them, where the newest customers are numbered.
func (g *generator) newID(try int) string {
	sh := g.shape
	x := sh.lo + g.rng.IntN(sh.hi-sh.lo+1)
	if g.rng.IntN(2) == 0 {
		x = sh.hi + 1 + g.rng.IntN(max((sh.hi-sh.lo)/20, 10)+try)
	}
	return sh.id(x)
}

// newPhone draws a phone number shaped like a real one: the same country
// code and leading digits, the last digits random (more of them after
// collisions).
func (g *generator) newPhone(real string, try int) string {
	if len(real) < 9 || !strings.HasPrefix(real, "+") {
		real = fmt.Sprintf("+861%d%09d", 3+g.rng.IntN(7), g.rng.IntN(1_000_000_000))
	}
	k := min(4+try/20, len(real)-6)
	var b strings.Builder
	b.WriteString(real[:len(real)-k])
	for range k {
		b.WriteByte(byte('0' + g.rng.IntN(10)))
	}
	return b.String()
}

// newAccount draws an account shaped like a real one: the sample's local
// part with its name parts replaced by the canary's and its digits
// redrawn, at the same domain.
func (g *generator) newAccount(base sample, parts []string, try int) string {
	real := base.account
	at := strings.LastIndexByte(real, '@')
	if at <= 0 {
		real, at = "user@example.com", 4
	}
	local, domain := real[:at], real[at:]
	nameParts := strings.Fields(strings.ToLower(base.name))
	lower := make([]string, len(parts))
	for i, p := range parts {
		lower[i] = strings.ToLower(p)
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	isLetter := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	var b strings.Builder
	for i := 0; i < len(local); {
		j := i
		switch r := local[i]; {
		case isDigit(r):
			for j < len(local) && isDigit(local[j]) {
				j++
			}
			for k := i; k < j; k++ {
				d := g.rng.IntN(10)
				if k == i && j-i > 1 {
					d = 1 + g.rng.IntN(9) // no leading zero in a multi-digit run
				}
				b.WriteByte(byte('0' + d))
			}
		case isLetter(r):
			for j < len(local) && isLetter(local[j]) {
				j++
			}
			word := local[i:j]
			repl := word
			// The sample's name parts, wherever they appear, become the
			// canary's (surname first in both names).
			for k, np := range nameParts {
				if strings.EqualFold(word, np) {
					repl = lower[min(k, len(lower)-1)]
				}
			}
			b.WriteString(repl)
		default:
			j = i + 1
			b.WriteByte(local[i])
		}
		i = j
	}
	out := b.String()
	if try > 0 {
		out += strconv.Itoa(g.rng.IntN(1000))
	}
	return vault.NormalizeAccount(cmp.Or(out, "user") + domain)
}
