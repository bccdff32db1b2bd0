package agent

import (
	"testing"
	"time"
)

func TestParseProcUptime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{string(readFixture(t, "uptime/proc-uptime.txt")), 3132*time.Second + 70*time.Millisecond, false},
		{"0.00 0.00\n", 0, false},
		{"12 1\n", 12 * time.Second, false},
		{"1.5", 1500 * time.Millisecond, false},
		{"1.1234567891234 0", time.Second + 123456789, false},
		{"", 0, true},
		{"abc 1", 0, true},
		{"-1.00 1", 0, true},
		{"1.x 1", 0, true},
		{"99999999999999999999.00 1", 0, true},
	}
	for _, tt := range tests {
		got, err := parseProcUptime([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseProcUptime(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestUptimeHere(t *testing.T) {
	a, err := Uptime()
	if err != nil {
		t.Fatal(err)
	}
	if a <= 0 {
		t.Fatalf("Uptime = %v", a)
	}
	time.Sleep(20 * time.Millisecond)
	b, err := Uptime()
	if err != nil || b < a {
		t.Errorf("Uptime went from %v to %v (%v)", a, b, err)
	}
}

func FuzzParseProcUptime(f *testing.F) {
	f.Add([]byte("3132.07 4603.21\n"))
	f.Add([]byte("0.00 0.00"))
	f.Add([]byte("9223372035.999999999 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseProcUptime(b)
		if err == nil && d < 0 {
			t.Fatalf("%q → %v", b, d)
		}
	})
}
