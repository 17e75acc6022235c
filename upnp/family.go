package upnp

import (
	"fmt"
	"strings"
)

// Family is a port-mapping protocol without its version: what a user
// chooses between. UPnP IGD v1 and v2 are one family.
type Family string

// The families reach speaks. FamilyAuto means "whichever answers", in the
// order UPnP IGD, PCP, NAT-PMP.
const (
	FamilyAuto   Family = ""
	FamilyUPnP   Family = "upnp"
	FamilyPCP    Family = "pcp"
	FamilyNATPMP Family = "nat-pmp"
)

// families is every concrete family, in order of preference.
var families = []Family{FamilyUPnP, FamilyPCP, FamilyNATPMP}

// ParseFamily reads a family name: "auto" (or empty), "upnp", "pcp" or
// "nat-pmp", in any case. The spellings "igd", "upnp-igd", "natpmp" and
// "pmp" are accepted too.
func ParseFamily(s string) (Family, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FamilyAuto, nil
	case "upnp", "upnp-igd", "igd":
		return FamilyUPnP, nil
	case "pcp":
		return FamilyPCP, nil
	case "nat-pmp", "natpmp", "pmp":
		return FamilyNATPMP, nil
	}
	return FamilyAuto, fmt.Errorf("upnp: unknown mapping protocol %q: want auto, upnp, pcp or nat-pmp", s)
}

// String is the family's name; FamilyAuto is "auto".
func (f Family) String() string {
	if f == FamilyAuto {
		return "auto"
	}
	return string(f)
}

// Fam is the family of m: FamilyUPnP for either IGD version, else the
// method's own name. MethodNone has no family (FamilyAuto).
func (m Method) Fam() Family {
	switch m {
	case MethodIGD1, MethodIGD2, MethodUPnP:
		return FamilyUPnP
	case MethodPCP:
		return FamilyPCP
	case MethodNATPMP:
		return FamilyNATPMP
	}
	return FamilyAuto
}

// method is the Discovery.Errors key of f.
func (f Family) method() Method {
	switch f {
	case FamilyUPnP:
		return MethodUPnP
	case FamilyPCP:
		return MethodPCP
	case FamilyNATPMP:
		return MethodNATPMP
	}
	return MethodNone
}

// title is the family's name in a sentence: "UPnP IGD", "PCP", "NAT-PMP".
func (f Family) title() string {
	switch f {
	case FamilyUPnP:
		return "UPnP IGD"
	case FamilyPCP:
		return "PCP"
	case FamilyNATPMP:
		return "NAT-PMP"
	}
	return f.String()
}
