package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "swbench",
		Short:         "Measure Switchboard",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newStoreCommand(), newFanoutCommand(), newSessionsCommand(), newCatchupCommand(), newSearchCommand(), newIngestCommand(), newSmokeCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "swbench:", err)
		os.Exit(1)
	}
}
