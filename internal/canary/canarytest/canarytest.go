// Package canarytest holds the small world that canary's tests, and the
// CLI's, seed canaries into: real customers with ids, names, phones and
// accounts of one pattern, and partner staff in two orgs at three sites.
package canarytest

import (
	"fmt"
	"strings"
)

// CustomersCSV returns an import file of n customers c-0000001… at
// store-1 in GD: pinyin names, +861700… phones, example.com accounts.
func CustomersCSV(n int) string {
	sur := []string{"Li", "Wang", "Zhang", "Chen"}
	giv := []string{"Wei", "Fang", "Min", "Jing"}
	var b strings.Builder
	b.WriteString("id,name,phone,account,region,site\n")
	for i := 1; i <= n; i++ {
		s, g := sur[i%4], giv[i/4%4]
		fmt.Fprintf(&b, "c-%07d,%s %s,+861700%07d,%s.%s%d@example.com,GD,store-1\n", i, s, g, i, strings.ToLower(g), strings.ToLower(s), i)
	}
	return b.String()
}

// PrincipalsCSV is an import file of partner staff in orgs dist-1
// (store-1 in GD, store-9 in BJ) and call-1 (cc-1 in SH), and a company
// analyst, who is no partner.
const PrincipalsCSV = "id,name,org,org_kind,role,site,region,token\n" +
	"emp-a,A,dist-1,distributor,store_clerk,store-1,GD,\n" +
	"emp-b,B,dist-1,distributor,store_clerk,store-9,BJ,\n" +
	"emp-c,C,call-1,callcenter,callcenter_agent,cc-1,SH,\n" +
	"sec,S,hq,company,security_analyst,hq,SH,\n"
