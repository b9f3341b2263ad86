package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func benchCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "bench",
		Short: "Measure the session-vs-token trade-off on this machine",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("bench is not implemented yet")
		},
	}
}
