package main

import (
	"fmt"
	"io"

	"valise/adminapi"
)

// printCertificates adds to status's tables one row per certificate: its name, subject,
// expiry date, days left and state (adminapi.CertInfo).
func printCertificates(tw io.Writer, certs []adminapi.CertInfo) {
	if len(certs) == 0 {
		return
	}
	fmt.Fprintln(tw, "\nCERTIFICATE\tSUBJECT\tEXPIRES\tDAYS LEFT\tSTATE")
	for _, c := range certs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", c.Name, c.Subject, c.NotAfter.UTC().Format("2006-01-02"), c.DaysLeft, c.State)
	}
}
