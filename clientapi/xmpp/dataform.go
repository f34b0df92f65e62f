package xmpp

import (
	"strings"
)

// Data forms (XEP-0004) as the ad-hoc commands and PEP publish-options
// use them: building forms to show, reading forms submitted.

// formField is one field of a form to show.
type formField struct {
	Var, Type, Label, Desc string
	Required               bool
	Values                 []string
	Options                []formOption
}

type formOption struct{ Label, Value string }

func (f formField) element() *element {
	e := el(nsDataForms, "field", "var", f.Var, "type", f.Type, "label", f.Label)
	if f.Desc != "" {
		e.add(el(nsDataForms, "desc").withText(f.Desc))
	}
	if f.Required {
		e.add(el(nsDataForms, "required"))
	}
	for _, v := range f.Values {
		e.add(el(nsDataForms, "value").withText(v))
	}
	for _, o := range f.Options {
		e.add(el(nsDataForms, "option", "label", o.Label).add(el(nsDataForms, "value").withText(o.Value)))
	}
	return e
}

// dataForm builds a form of type typ (form, result).
func dataForm(typ, title, instructions string, fields ...formField) *element {
	x := el(nsDataForms, "x", "type", typ)
	if title != "" {
		x.add(el(nsDataForms, "title").withText(title))
	}
	if instructions != "" {
		x.add(el(nsDataForms, "instructions").withText(instructions))
	}
	for _, f := range fields {
		x.add(f.element())
	}
	return x
}

// formValues are the values of a submitted form by field name.
type formValues map[string][]string

// parseForm reads a submitted form; x may be nil (nothing submitted).
// Values keep their text as sent but for surrounding white space, which
// no field here gives meaning to.
func parseForm(x *element) formValues {
	v := formValues{}
	if x == nil {
		return v
	}
	for _, f := range x.Children {
		if f.Name.Space != nsDataForms || f.Name.Local != "field" || f.attr("var") == "" {
			continue
		}
		name := f.attr("var")
		v[name] = v[name][:0:0]
		for _, c := range f.Children {
			if c.Name.Space == nsDataForms && c.Name.Local == "value" {
				v[name] = append(v[name], strings.TrimSpace(c.Text))
			}
		}
	}
	return v
}

// get is the field's first value, "" when absent.
func (v formValues) get(name string) string {
	if vs := v[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// boolean reads an XEP-0004 boolean field: absent is false.
func (v formValues) boolean(name string) (bool, bool) {
	switch v.get(name) {
	case "", "0", "false":
		return false, true
	case "1", "true":
		return true, true
	}
	return false, false
}

// formType is the FORM_TYPE of a submitted form, "" when it has none.
func (v formValues) formType() string { return v.get("FORM_TYPE") }

// submittedForm finds the jabber:x:data form among an element's children.
func submittedForm(parent *element) *element {
	return parent.child(nsDataForms, "x")
}
