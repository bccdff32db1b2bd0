package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/client"
	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// tokenStore is what the token commands need, from the database on the hub
// host or from a hub's API.
type tokenStore interface {
	create(ctx context.Context, t *moonwake.Token) (string, error)
	list(ctx context.Context) ([]*moonwake.Token, error)
	revoke(ctx context.Context, idOrName string) (*moonwake.Token, error)
	close() error
}

type localTokens struct {
	db *sqlite.DB
	ts *sqlite.TokenService
}

func (l localTokens) create(ctx context.Context, t *moonwake.Token) (string, error) {
	return l.ts.CreateToken(ctx, t)
}
func (l localTokens) list(ctx context.Context) ([]*moonwake.Token, error) {
	return l.ts.ListTokens(ctx)
}
func (l localTokens) revoke(ctx context.Context, id string) (*moonwake.Token, error) {
	return l.ts.RevokeToken(ctx, id)
}
func (l localTokens) close() error { return l.db.Close() }

type remoteTokens struct{ c *client.Client }

func (r remoteTokens) create(ctx context.Context, t *moonwake.Token) (string, error) {
	nt, secret, err := r.c.CreateToken(ctx, client.TokenInput{Name: t.Name, Machines: t.Machines, Actions: t.Actions, Admin: t.Admin, RelayEnrol: t.RelayEnrol, CloudEvents: t.CloudEvents})
	if err == nil {
		*t = *nt
	}
	return secret, err
}
func (r remoteTokens) list(ctx context.Context) ([]*moonwake.Token, error) {
	return r.c.ListTokens(ctx)
}
func (r remoteTokens) revoke(ctx context.Context, id string) (*moonwake.Token, error) {
	return r.c.RevokeToken(ctx, id)
}
func (r remoteTokens) close() error { return nil }

type tokensFlags struct {
	data string
	hub  hubFlags
}

func (f *tokensFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.data, "data", "", "the hub's data `directory` (default \"moonwake-data\"; or MOONWAKE_DATA)")
	_ = cmd.MarkFlagDirname("data")
	f.hub.register(cmd)
}

func (f *tokensFlags) open(ctx context.Context, e *env) (tokenStore, error) {
	if f.hub.url(e) != "" && f.data == "" {
		c, err := f.hub.client(e)
		if err != nil {
			return nil, err
		}
		return remoteTokens{c}, nil
	}
	dir := f.data
	if dir == "" {
		dir = e.getenv("MOONWAKE_DATA")
	}
	if dir == "" {
		dir = config.Default().Data
	}
	db, err := hub.OpenDB(ctx, dir, nil)
	if err != nil {
		return nil, err
	}
	return localTokens{db: db, ts: sqlite.NewTokenService(db)}, nil
}

func newTokensCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Create, list and revoke API tokens",
		Long: `Manage the hub's API tokens.

On the hub host, these commands use the database in the data directory
(--data). Elsewhere, give --hub and an admin --token to use the API.

A token is scoped: to some machines (--machines, default all) and some
actions (--actions, default wake), or it is an admin token (--admin) that
may do everything, including managing machines and tokens. Only a hash of
each token is stored; the secret is printed once, when it is created.`,
	}
	cmd.AddCommand(newTokensCreateCmd(e), newTokensListCmd(e), newTokensRevokeCmd(e))
	return cmd
}

func newTokensCreateCmd(e *env) *cobra.Command {
	var f tokensFlags
	var name string
	var machines, actions []string
	var admin, relayEnrol, cloudEvents bool
	cmd := &cobra.Command{
		Use:   "create --name NAME [--machines a,b] [--actions wake,shutdown] [--admin | --relay-enrol | --cloudevents]",
		Short: "Create a token and print its secret, alone on stdout, once",
		Example: `  moonwake tokens create --name phone --machines gaming-pc --actions wake
  moonwake tokens create --name home-assistant --actions wake,shutdown
  moonwake tokens create --name grafana --actions read
  moonwake tokens create --name laptop --admin
  moonwake tokens create --name k3s-relays --relay-enrol
  moonwake tokens create --name knative-trigger --machines gaming-pc --actions wake --cloudevents
  TOKEN=$(moonwake tokens create --data /var/lib/moonwake --name ci)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usagef("--name is required")
			}
			if !cmd.Flags().Changed("actions") && !relayEnrol {
				actions = []string{moonwake.ActionWake}
			}
			t := &moonwake.Token{Name: name, Machines: machines, Actions: actions, Admin: admin, RelayEnrol: relayEnrol, CloudEvents: cloudEvents}
			if err := t.Normalize(); err != nil {
				return err
			}
			st, err := f.open(cmd.Context(), e)
			if err != nil {
				return err
			}
			defer st.close()
			secret, err := st.create(cmd.Context(), t)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, secret)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "a name for the token, for you and the audit log")
	cmd.Flags().StringSliceVar(&machines, "machines", nil, "machines it may use, comma-separated (default: all)")
	cmd.Flags().StringSliceVar(&actions, "actions", nil, "actions it may do: "+strings.Join(moonwake.KnownActions, ",")+", and read to read the audit log (default: wake)")
	cmd.Flags().BoolVar(&admin, "admin", false, "may do everything, including managing machines and tokens")
	cmd.Flags().BoolVar(&relayEnrol, "relay-enrol", false, "enrols relays (moonwake relay, MOONWAKE_RELAY_TOKEN_FILE) and does nothing else")
	cmd.Flags().BoolVar(&cloudEvents, "cloudevents", false, "works only on POST /api/v1/cloudevents, where it may be given in the URL (?token=, for a Knative Trigger's subscriber)")
	f.register(cmd)
	return cmd
}

func newTokensListCmd(e *env) *cobra.Command {
	var f tokensFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := f.open(cmd.Context(), e)
			if err != nil {
				return err
			}
			defer st.close()
			ts, err := st.list(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, ts)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tCREATED\tLAST USED\tSTATUS")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope(),
					t.CreatedAt.Local().Format(time.DateTime), when(t.LastUsedAt), status(t))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	f.register(cmd)
	return cmd
}

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Local().Format(time.DateTime)
}

func status(t *moonwake.Token) string {
	if t.RevokedAt != nil {
		return "revoked " + t.RevokedAt.Local().Format(time.DateTime)
	}
	return "active"
}

func newTokensRevokeCmd(e *env) *cobra.Command {
	var f tokensFlags
	cmd := &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a token; it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := f.open(cmd.Context(), e)
			if err != nil {
				return err
			}
			defer st.close()
			t, err := st.revoke(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s (%s)\n", t.ID, t.Name)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
