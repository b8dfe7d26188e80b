package targets

// flagFile is the File of positions that point at --image flags.
const flagFile = "--image"

// ImageArg is one --image flag with the --name that followed it ("" when none).
type ImageArg struct{ Image, Name string }

// FromImages makes a list from --image/--name flags. With a nil base the
// helper version is DefaultHelperVersion and the toolchain DefaultGoImage;
// otherwise base's file name, Helper, Go and Publish, with where they are
// written, are kept and its Targets replaced: a refusal of the go image
// still points at the file's go: key, and the publish names are checked
// again for the new targets. The list has no Source: its targets are
// not the file's. Refusals point at "--image:N:1", N counting the flags
// from 1.
func FromImages(base *List, args []ImageArg) (*List, error) {
	l := &List{File: flagFile, Helpers: []Helper{{Version: DefaultHelperVersion}}, Go: defaultGo()}
	if base != nil {
		l.File, l.Helpers = base.File, base.Helpers
		l.Go, l.GoLines, l.GoKey = base.Go, base.GoLines, base.GoKey
		l.Publish = base.Publish
	}
	var errs ErrorList
	if len(args) == 0 {
		errs.add(Pos{flagFile, 1, 1}, "no images given; pass at least one --image REF")
	}
	var named []Target // targets with a name, explicit or derived
	for i, a := range args {
		p := Pos{File: flagFile, Line: i + 1, Col: 1}
		t := Target{Pos: p}
		img, ref := checkImage(&errs, "image", exampleImage, a.Image, p)
		t.Image = img
		switch {
		case a.Name != "":
			t.Name, t.namePos = a.Name, p
		case ref != nil:
			t.Name = deriveName(ref)
		default:
			continue
		}
		named = append(named, t)
	}
	checkNames(&errs, named, fromFlags)
	if len(errs) == 0 {
		l.Targets = named
		l.bindHelpers(&errs)
		l.checkPublish(&errs, true)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return l, nil
}
