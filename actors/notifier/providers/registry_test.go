package providers

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// Fake is a twelfth notifier kind that exists only in this test: its table
// with defaults, its checks and its provider, as a new file would hold them.
type Fake struct {
	URL     string `toml:"url,required,url"`
	Token   string `toml:"token,required,secret"`
	Retries int    `toml:"retries,u16" default:"3"`
	Options
}

func (c *Fake) Check(r *config.Report) {
	warnNotHTTP(r, "url", c.URL, "nothing can be sent", false)
	if c.Retries == 0 {
		r.Warn("retries", "0 gives up at once")
	}
}

func (c *Fake) Build(d Deps) (notifier.Provider, config.Errors) {
	return &fake{section: *c, title: d.PageTitle}, nil
}

type fake struct {
	section Fake
	title   string
}

func (*fake) Kind() string                                             { return "fake" }
func (*fake) Send(context.Context, messages.Notification, []int) error { return nil }

const fakeConfig = `
[server]
manager_token = "m"
reporter_token = "r"
[assets]
[branding]
page_title = "Fake Status"
page_url = "https://status.example.com"
company_name = "Example"
icon_color = "#fff"
icon_url = "https://example.com/i.png"
logo_color = "#fff"
logo_url = "https://example.com/l.svg"
website_url = "https://example.com"
support_url = "https://example.com/support"
[metrics]
[probe]
service = []
[notify]
[notify.fake]
url = "FTP://Files.Example.com"
token = "${FAKE_TOKEN}"
reminders_only = true
retrys = 2
`

// TestAddingAKind: a kind added to a registry value is decoded (defaults,
// secrets, its checks and unknown keys with the kind's own keys suggested),
// then checked and built with its options; nothing else names it. Without
// it, its table is an unknown one.
func TestAddingAKind(t *testing.T) {
	reg := append(Kinds(), Kind{Name: "fake", Section: func() Section { return new(Fake) }})

	_, err := config.Decode([]byte(fakeConfig), nil, &config.Config{}, reg.Notifiers()...)
	if err == nil || err.Error() != "notify.fake.token: environment variable FAKE_TOKEN is not set" {
		t.Fatalf("unresolved secret: %v", err)
	}

	cfg := &config.Config{}
	warnings, err := config.Decode([]byte(fakeConfig), []string{"FAKE_TOKEN=s3cret"}, cfg, reg.Notifiers()...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	want := []string{
		`notify.fake.url: is not an http or https URL (got "ftp://files.example.com/"): nothing can be sent`,
		`notify.fake.retrys: unknown key (did you mean "retries"?)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	section, ok := cfg.Notify.Notifiers["fake"].(*Fake)
	if !ok || *section != (Fake{URL: "ftp://files.example.com/", Token: "s3cret", Retries: 3, Options: Options{RemindersOnly: true}}) {
		t.Fatalf("decoded section %#v", cfg.Notify.Notifiers["fake"])
	}

	d := tDeps(nil)
	d.PageTitle = cfg.Branding.PageTitle
	built, problems := reg.Build(cfg, d)
	if len(built) != 1 || len(problems) != 0 || !built[0].RemindersOnly {
		t.Fatalf("built %d (%+v), problems %v", len(built), built, problems)
	}
	if p, ok := built[0].Provider.(*fake); !ok || p.section != *section || p.title != "Fake Status" {
		t.Fatalf("provider %#v", built[0].Provider)
	}
	if problems := reg.Check(cfg); len(problems) != 0 {
		t.Fatalf("check: %v", problems)
	}

	warnings, err = config.Decode([]byte(fakeConfig), nil, &config.Config{}, Kinds().Notifiers()...)
	if err != nil || len(warnings) != 1 || warnings[0].String() != "notify.fake: unknown table, ignored" {
		t.Fatalf("without the kind: %v %v", err, warnings)
	}
}
