package container

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Leftover is a container or network a run left behind.
type Leftover struct {
	Kind  string // "container" or "network"
	ID    string
	Name  string
	RunID string
}

func (l Leftover) String() string {
	return fmt.Sprintf("%s %s (%s) of run %s", l.Kind, l.Name, shortID(l.ID), l.RunID)
}

// List finds the containers and networks labelled as faultline's: of one
// run, or of every run when runID is "".
func List(ctx context.Context, runID string) ([]Leftover, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, Diagnose(err, "", "")
	}
	defer cli.Close()
	return list(ctx, cli.Client, runID)
}

func list(ctx context.Context, cli *client.Client, runID string) ([]Leftover, error) {
	label := LabelApp + "=true"
	if runID != "" {
		label = LabelRun + "=" + runID
	}
	var out []Leftover
	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", label)})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	for _, c := range ctrs.Items {
		out = append(out, Leftover{Kind: "container", ID: c.ID, Name: strings.TrimPrefix(strings.Join(c.Names, ","), "/"), RunID: c.Labels[LabelRun]})
	}
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("label", label)})
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	for _, n := range nets.Items {
		out = append(out, Leftover{Kind: "network", ID: n.ID, Name: n.Name, RunID: n.Labels[LabelRun]})
	}
	return out, nil
}

// Cleanup removes (forcibly: running ones too) the containers, with their
// anonymous volumes, and then the networks that List finds. It returns what
// it removed; it goes on past a failure and reports every one.
func Cleanup(ctx context.Context, runID string) ([]Leftover, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, Diagnose(err, "", "")
	}
	defer cli.Close()
	found, err := list(ctx, cli.Client, runID)
	if err != nil {
		return nil, err
	}
	var removed []Leftover
	var errs []error
	for _, kind := range []string{"container", "network"} { // networks empty once their containers are gone
		for _, l := range found {
			if l.Kind != kind {
				continue
			}
			if kind == "container" {
				_, err = cli.ContainerRemove(ctx, l.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			} else {
				_, err = cli.NetworkRemove(ctx, l.ID, client.NetworkRemoveOptions{})
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", l, err))
				continue
			}
			removed = append(removed, l)
		}
	}
	return removed, errors.Join(errs...)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
