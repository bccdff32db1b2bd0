package moonwake

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// AppendJSON appends a's JSON to b: the same bytes json.Marshal gives (a
// fuzz test holds it to that), written without reflection. An action is
// what every wake and shutdown request is answered with, on the API's
// hottest path, where encoding/json's reflection was a quarter of the
// hub's CPU (BenchmarkActionJSON has the numbers).
func (a *Action) AppendJSON(b []byte) []byte {
	if a == nil {
		return append(b, "null"...)
	}
	if !jsonTime(a.CreatedAt) || (a.Deadline != nil && !jsonTime(*a.Deadline)) || (a.FinishedAt != nil && !jsonTime(*a.FinishedAt)) {
		return a.appendSlow(b)
	}
	for i := range a.Steps {
		if !jsonTime(a.Steps[i].At) {
			return a.appendSlow(b)
		}
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, a.ID)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, a.Kind)
	b = append(b, `,"machine":`...)
	b = appendJSONString(b, a.Machine)
	b = append(b, `,"mac":`...)
	b = appendJSONString(b, a.MAC)
	b = append(b, `,"actor":`...)
	b = a.Actor.appendJSON(b)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, a.Status)
	if a.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, a.Detail)
	}
	b = append(b, `,"steps":`...)
	b = appendStepsJSON(b, a.Steps)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, a.CreatedAt)
	if a.Deadline != nil {
		b = append(b, `,"deadline":`...)
		b = appendJSONTime(b, *a.Deadline)
	}
	if a.FinishedAt != nil {
		b = append(b, `,"finished_at":`...)
		b = appendJSONTime(b, *a.FinishedAt)
	}
	return append(b, '}')
}

// AppendStepsJSON appends steps' JSON to b, the bytes json.Marshal gives,
// without reflection: the audit log stores them with every action.
func AppendStepsJSON(b []byte, steps []Step) ([]byte, error) {
	for i := range steps {
		if !jsonTime(steps[i].At) {
			j, err := json.Marshal(steps)
			return append(b, j...), err
		}
	}
	return appendStepsJSON(b, steps), nil
}

// AppendJSON appends ac's JSON to b, the bytes json.Marshal gives.
func (ac Actor) AppendJSON(b []byte) []byte { return ac.appendJSON(b) }

func (ac *Actor) appendJSON(b []byte) []byte {
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, ac.Kind)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, ac.Name)
	if ac.TokenID != "" {
		b = append(b, `,"token_id":`...)
		b = appendJSONString(b, ac.TokenID)
	}
	if ac.Addr != "" {
		b = append(b, `,"addr":`...)
		b = appendJSONString(b, ac.Addr)
	}
	return append(b, '}')
}

// appendStepsJSON appends steps, whose times jsonTime accepts.
func appendStepsJSON(b []byte, steps []Step) []byte {
	if steps == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range steps {
		st := &steps[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"at":`...)
		b = appendJSONTime(b, st.At)
		b = append(b, `,"kind":`...)
		b = appendJSONString(b, st.Kind)
		if st.Via != "" {
			b = append(b, `,"via":`...)
			b = appendJSONString(b, st.Via)
		}
		if st.Target != "" {
			b = append(b, `,"target":`...)
			b = appendJSONString(b, st.Target)
		}
		if st.Error != "" {
			b = append(b, `,"error":`...)
			b = appendJSONString(b, st.Error)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendSlow is encoding/json's answer, for the times it refuses (a year
// outside 0–9999) or writes its own way: never on a real action.
func (a *Action) appendSlow(b []byte) []byte {
	type plain Action // no methods: encoding/json's own encoding
	j, err := json.Marshal((*plain)(a))
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

// jsonTime reports whether appendJSONTime writes t as time.Time's
// MarshalJSON does: it refuses years outside 0–9999 and offsets that are
// not whole minutes.
func jsonTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off%60 == 0 && off > -24*3600 && off < 24*3600
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it: with <, >
// and & escaped for HTML, U+2028 and U+2029 escaped, and invalid UTF-8
// replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
