package tui

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"valise/adminapi"
	"valise/internal/newfile"
)

// The Users screen's CSV import: the path form's checks, the dry run's preview, the
// report and the passwords file.

// validImportPath checks the import form's path: a regular file of at most
// adminapi.MaxImportBytes.
func validImportPath(l Lang) func(string) error {
	return func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New(Text{"Indiquez le chemin du fichier CSV.", "Enter the CSV file's path."}.In(l))
		}
		fi, err := os.Stat(s)
		switch {
		case err != nil:
			return errors.New(Text{"Fichier introuvable.", "No such file."}.In(l))
		case !fi.Mode().IsRegular():
			return errors.New(Text{"Ce n'est pas un fichier.", "Not a regular file."}.In(l))
		case fi.Size() > adminapi.MaxImportBytes:
			return fmt.Errorf(Text{"Fichier trop gros (%d Mio au plus).", "File too large (%d MiB at most)."}.In(l), adminapi.MaxImportBytes>>20)
		}
		return nil
	}
}

// validNewFilePath checks the passwords form's path: a new file in a folder that exists.
func validNewFilePath(l Lang) func(string) error {
	return func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New(Text{"Indiquez un chemin.", "Enter a path."}.In(l))
		}
		if _, err := os.Lstat(s); err == nil {
			return errors.New(Text{"Ce fichier existe déjà.", "That file exists already."}.In(l))
		}
		if fi, err := os.Stat(filepath.Dir(s)); err != nil || !fi.IsDir() {
			return errors.New(Text{"Le dossier n'existe pas.", "The folder does not exist."}.In(l))
		}
		return nil
	}
}

// readImport reads a CSV file to import, bounded by adminapi.MaxImportBytes.
func readImport(l Lang, path string) (string, error) {
	if err := validImportPath(l)(path); err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > adminapi.MaxImportBytes {
		return "", validImportPath(l)(path)
	}
	return string(data), nil
}

// writePasswords writes an import's passwords as CSV (email,password) to a new file only
// its owner may read; it never replaces a file.
func writePasswords(path string, pw []adminapi.ImportPassword) error {
	return newfile.Write(path, func(w io.Writer) error { return adminapi.WritePasswordsCSV(w, pw) })
}

func (u *Users) setPreviewRows() {
	l := u.env.Lang
	failed := make(map[int]adminapi.ImportLineError, len(u.report.Failed))
	for _, f := range u.report.Failed {
		failed[f.Line] = f
	}
	var rows []Row
	seen := make(map[int]bool)
	for _, p := range u.report.Preview {
		seen[p.Line] = true
		outcome, tone := actionText(l, p.Action), ""
		if f, ok := failed[p.Line]; ok {
			outcome, tone = f.Error, "error"
		}
		rows = append(rows, Row{ID: strconv.Itoa(p.Line), Tone: tone, Cells: []string{
			strconv.Itoa(p.Line), p.Email, roleText(l, p.Role), p.Lang, quotaText(p.QuotaBytes), outcome}})
	}
	for _, f := range u.report.Failed {
		if !seen[f.Line] {
			rows = append(rows, Row{ID: strconv.Itoa(f.Line), Tone: "error", Cells: []string{
				strconv.Itoa(f.Line), f.Email, "", "", "", f.Error}})
		}
	}
	u.preview.SetRows(rows)
}

// actionTexts name an import line's action for people.
var actionTexts = map[string]Text{
	"create":    {"à créer", "create"},
	"update":    {"à modifier", "update"},
	"unchanged": {"inchangé", "unchanged"},
	"error":     {"refusée", "refused"},
}

func actionText(l Lang, a string) string { return textOf(actionTexts, l, a) }

func (u *Users) importView() string {
	l, st, r := u.env.Lang, u.env.Styles, u.report
	var head string
	if u.mode == usersPreview {
		head = st.Title.Render(Text{"Aperçu de l'import (rien n'est encore créé)", "Import preview (nothing created yet)"}.In(l)) + "\n" +
			Text{"%d lignes : %d à créer, %d à modifier, %d inchangées, %d refusées", "%d lines: %d to create, %d to update, %d unchanged, %d refused"}.fmt(l,
				r.Lines, r.Created, r.Updated, r.Unchanged, len(r.Failed))
	} else {
		head = st.Title.Render(Text{"Import terminé", "Import done"}.In(l)) + "\n" +
			Text{"%d lignes : %d créés, %d modifiés, %d inchangés, %d refusées", "%d lines: %d created, %d updated, %d unchanged, %d refused"}.fmt(l,
				r.Lines, r.Created, r.Updated, r.Unchanged, len(r.Failed))
	}
	var foot string
	switch {
	case u.mode == usersPreview && r.Created+r.Updated > 0:
		foot = Text{"Entrée : importer · esc : annuler", "Enter: import · esc: cancel"}.In(l)
	case u.mode == usersPreview:
		foot = Text{"Rien à importer · esc : fermer", "Nothing to import · esc: close"}.In(l)
	case len(r.Passwords) > 0 && u.savedTo == "":
		foot = st.Warn.Render(Text{"%d mots de passe, affichés nulle part ailleurs : w pour les enregistrer", "%d passwords, shown nowhere else: w saves them"}.fmt(l, len(r.Passwords)))
	case u.savedTo != "":
		foot = Text{"Mots de passe enregistrés dans %s · esc : fermer", "Passwords saved to %s · esc: close"}.fmt(l, u.savedTo)
	default:
		foot = Text{"esc : fermer", "esc: close"}.In(l)
	}
	return head + "\n" + u.preview.View() + "\n" + foot
}
