//! Every string of the pages, in English and French, in one table. Keys starting with `js.`
//! are also handed to the page's script.

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

impl Lang {
    /// Every language, in the order the pages offer them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// The language's code (`en`, `fr`), for `lang=` attributes and URLs.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The language of a code or an `Accept-Language` entry (`fr-CA` is French); None otherwise.
    pub fn from_code(s: &str) -> Option<Lang> {
        let s = s.trim();
        let primary = s.split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("fr") {
            Some(Lang::Fr)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The preferred language of an `Accept-Language` header, among those we speak.
    pub fn from_accept_language(h: &str) -> Option<Lang> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in h.split(',').enumerate() {
            let mut it = part.split(';');
            let Some(lang) = it.next().and_then(Lang::from_code) else {
                continue;
            };
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            // The highest weight wins; on a tie, the first listed.
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|b| b.2)
    }
}

/// What a missing key renders as (the tests look for it).
pub const MISSING: &str = "[missing message]";

/// The translations of one page.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    /// The message `key` in this language.
    pub fn t(&self, key: &str) -> &'static str {
        match MESSAGES.iter().find(|m| m.0 == key) {
            Some((_, en, fr)) => match self.0 {
                Lang::En => en,
                Lang::Fr => fr,
            },
            None => MISSING,
        }
    }

    /// The code of the language these texts are in.
    pub fn lang(&self) -> &'static str {
        self.0.code()
    }

    /// The `js.` messages as a JSON object, safe inside a `<script>` element.
    pub fn js_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = MESSAGES
            .iter()
            .filter(|m| m.0.starts_with("js."))
            .map(|m| (m.0[3..].to_string(), self.t(m.0).into()))
            .collect();
        serde_json::Value::Object(map)
            .to_string()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    }
}

/// (key, English, French).
pub static MESSAGES: &[(&str, &str, &str)] = &[
    // Every page.
    (
        "site.tagline",
        "e-mail, contacts and calendars migration",
        "migration d'e-mails, de contacts et d'agendas",
    ),
    ("nav.label", "Main menu", "Menu principal"),
    ("nav.home", "Home", "Accueil"),
    ("nav.migrate", "Migrate an account", "Migrer un compte"),
    ("nav.track", "Track a migration", "Suivre une migration"),
    ("lang.label", "Language", "Langue"),
    ("skip", "Skip to the content", "Aller au contenu"),
    (
        "footer",
        "passeur is free software. Your passwords are kept encrypted, only for the time of the migration.",
        "passeur est un logiciel libre. Vos mots de passe sont gardés chiffrés, seulement le temps de la migration.",
    ),
    (
        "nojs",
        "This page needs JavaScript.",
        "Cette page nécessite JavaScript.",
    ),
    // Home.
    (
        "home.title",
        "Move your e-mail, contacts and calendars",
        "Déménagez vos e-mails, contacts et agendas",
    ),
    (
        "home.intro",
        "Copy everything from your old provider to the new one. Nothing is deleted from the old server.",
        "Copiez tout de votre ancien fournisseur vers le nouveau. Rien n'est supprimé de l'ancien serveur.",
    ),
    (
        "home.ways",
        "Three ways to migrate",
        "Trois façons de migrer",
    ),
    ("home.one.title", "One account", "Un compte"),
    (
        "home.one.text",
        "Copy one mailbox from its old server to the new one.",
        "Copier une boîte aux lettres de son ancien serveur vers le nouveau.",
    ),
    ("home.one.go", "Migrate an account", "Migrer un compte"),
    ("home.file.title", "A file", "Un fichier"),
    (
        "home.file.text",
        "Import a PST, OST, ICS or VCF file into a mailbox.",
        "Importer un fichier PST, OST, ICS ou VCF dans une boîte aux lettres.",
    ),
    ("home.project.title", "A project", "Un projet"),
    (
        "home.project.text",
        "Move many mailboxes at once from a spreadsheet.",
        "Migrer de nombreuses boîtes à la fois depuis un tableur.",
    ),
    ("home.coming", "Coming soon", "Bientôt disponible"),
    (
        "home.track.title",
        "Track a migration",
        "Suivre une migration",
    ),
    (
        "home.track.text",
        "You need the migration ID and the source account (for a file migration, the destination account).",
        "Il faut l'identifiant de la migration et le compte source (pour une migration de fichier, le compte de destination).",
    ),
    // Tracking form.
    ("track.title", "Track a migration", "Suivre une migration"),
    ("track.id", "Migration ID", "Identifiant de la migration"),
    ("track.account", "Account (login)", "Compte (identifiant)"),
    (
        "track.account.hint",
        "The login of the old mailbox, usually its e-mail address; for a file migration, the login of the mailbox the file went into.",
        "L'identifiant de l'ancienne boîte, en général son adresse e-mail ; pour une migration de fichier, celui de la boîte où le fichier a été importé.",
    ),
    ("track.go", "Track", "Suivre"),
    // One-account form.
    ("mig.title", "Migrate one account", "Migrer un compte"),
    (
        "mig.intro",
        "Fill in both servers, choose what to move, and start. The passwords are used only for this migration.",
        "Renseignez les deux serveurs, choisissez quoi migrer, puis lancez. Les mots de passe ne servent qu'à cette migration.",
    ),
    (
        "mig.source",
        "Source: the old server",
        "Source : l'ancien serveur",
    ),
    (
        "mig.destination",
        "Destination: the new server",
        "Destination : le nouveau serveur",
    ),
    ("mig.type", "Server type", "Type de serveur"),
    (
        "mig.type.imaps",
        "IMAP with TLS (port 993)",
        "IMAP avec TLS (port 993)",
    ),
    (
        "mig.type.starttls",
        "IMAP with STARTTLS (port 143)",
        "IMAP avec STARTTLS (port 143)",
    ),
    (
        "mig.type.plain",
        "IMAP without encryption (port 143)",
        "IMAP sans chiffrement (port 143)",
    ),
    ("mig.host", "Server address", "Adresse du serveur"),
    (
        "mig.host.hint",
        "For example imap.example.org",
        "Par exemple imap.exemple.fr",
    ),
    ("mig.port", "Port", "Port"),
    (
        "mig.login",
        "Login (full e-mail address)",
        "Identifiant (adresse e-mail complète)",
    ),
    (
        "mig.deleg",
        "Admin account with delegation",
        "Compte administrateur avec délégation",
    ),
    (
        "mig.admin",
        "Admin login",
        "Identifiant de l'administrateur",
    ),
    ("mig.password", "Password", "Mot de passe"),
    (
        "mig.password.hint",
        "With delegation: the admin's password.",
        "Avec délégation : le mot de passe de l'administrateur.",
    ),
    (
        "mig.dav",
        "CalDAV/CardDAV address",
        "Adresse CalDAV/CardDAV",
    ),
    (
        "mig.dav.hint",
        "https://… — for contacts, calendars and tasks.",
        "https://… — pour les contacts, agendas et tâches.",
    ),
    ("mig.options", "Options", "Options"),
    ("mig.content", "What to move", "Contenu à migrer"),
    (
        "mig.notify",
        "Notification address (optional)",
        "Adresse de notification (facultative)",
    ),
    (
        "mig.notify.hint",
        "We send the migration ID and the result there.",
        "Nous y envoyons l'identifiant de la migration et le résultat.",
    ),
    ("mig.when", "When to start", "Démarrage"),
    ("mig.now", "Now", "Maintenant"),
    ("mig.later", "At a date and time", "À une date et une heure"),
    ("mig.start_at", "Date and time", "Date et heure"),
    ("mig.submit", "Start the migration", "Lancer la migration"),
    ("kind.mail", "Mail", "E-mails"),
    ("kind.contacts", "Contacts", "Contacts"),
    ("kind.calendars", "Calendars", "Agendas"),
    ("kind.tasks", "Tasks", "Tâches"),
    // Tracking page.
    ("trk.title", "Migration", "Migration"),
    (
        "trk.account.ask",
        "Enter the source account (for a file migration, the destination account) to follow this migration.",
        "Saisissez le compte source (pour une migration de fichier, le compte de destination) pour suivre cette migration.",
    ),
    ("trk.status", "Status", "État"),
    ("trk.progress", "Progress", "Progression"),
    ("trk.passes", "Sync points", "Points de synchronisation"),
    ("trk.pass", "Sync point", "Point"),
    ("trk.started", "Started", "Début"),
    ("trk.finished", "Finished", "Fin"),
    ("trk.copied", "Copied", "Copiés"),
    ("trk.failed", "Not copied", "Non copiés"),
    ("trk.pass_status", "Result", "Résultat"),
    ("trk.failures", "Items not migrated", "Éléments non migrés"),
    (
        "trk.report",
        "Download the list (CSV)",
        "Télécharger la liste (CSV)",
    ),
    (
        "trk.notes",
        "Items changed on the way",
        "Éléments modifiés en route",
    ),
    (
        "trk.notes.hint",
        "These items arrived, but not exactly as they were: the destination refused them and took them repaired, or a damaged line of the file was skipped. Nothing was dropped: what had to move aside is kept in a property named X-PASSEUR-….",
        "Ces éléments sont arrivés, mais pas tout à fait tels quels : la destination les a refusés puis acceptés réparés, ou une ligne abîmée du fichier a été sautée. Rien n'a été perdu : ce qui a dû être déplacé est gardé dans une propriété nommée X-PASSEUR-….",
    ),
    ("js.note.repaired", "repaired", "réparé"),
    ("js.note.warning", "note", "remarque"),
    ("trk.actions", "Actions", "Actions"),
    ("trk.stop", "Stop", "Arrêter"),
    ("trk.sync", "Synchronise", "Synchroniser"),
    (
        "trk.sync.hint",
        "Copies only what is new since the last sync point.",
        "Copie seulement ce qui est nouveau depuis le dernier point de synchronisation.",
    ),
    (
        "trk.purge",
        "Delete migrated items",
        "Supprimer les éléments migrés",
    ),
    (
        "trk.purge.hint",
        "Deletes from the destination what this migration copied from the chosen sync point on. Nothing else is touched.",
        "Supprime de la destination ce que cette migration a copié à partir du point choisi. Rien d'autre n'est touché.",
    ),
    (
        "trk.purge.from",
        "From sync point",
        "À partir du point de synchronisation",
    ),
    (
        "trk.purge.password",
        "Destination password",
        "Mot de passe de la destination",
    ),
    (
        "trk.purge.check",
        "Count what would be deleted",
        "Compter ce qui serait supprimé",
    ),
    ("trk.purge.yes", "Delete them", "Les supprimer"),
    ("trk.purge.cancel", "Cancel", "Annuler"),
    // For the script.
    ("js.sending", "Sending…", "Envoi…"),
    (
        "js.created",
        "The migration is created.",
        "La migration est créée.",
    ),
    (
        "js.your_id",
        "Migration ID:",
        "Identifiant de la migration :",
    ),
    (
        "js.keep_id",
        "Keep this ID: with the source login, it lets you follow the migration.",
        "Gardez cet identifiant : avec l'identifiant source, il permet de suivre la migration.",
    ),
    (
        "js.track_link",
        "Follow this migration",
        "Suivre cette migration",
    ),
    (
        "js.mailed",
        "The ID is also sent by e-mail to {addr}.",
        "L'identifiant est aussi envoyé par e-mail à {addr}.",
    ),
    (
        "js.err.form",
        "Some fields need attention.",
        "Certains champs sont à corriger.",
    ),
    (
        "js.err.required",
        "This field is required.",
        "Ce champ est obligatoire.",
    ),
    (
        "js.err.host",
        "This server address is not valid.",
        "Cette adresse de serveur n'est pas valide.",
    ),
    (
        "js.err.port",
        "This port is not valid (1 to 65535).",
        "Ce port n'est pas valide (1 à 65535).",
    ),
    (
        "js.err.login",
        "This login is not valid.",
        "Cet identifiant n'est pas valide.",
    ),
    (
        "js.err.admin",
        "This admin login is not valid.",
        "Cet identifiant d'administrateur n'est pas valide.",
    ),
    (
        "js.err.email",
        "This is not an e-mail address.",
        "Ce n'est pas une adresse e-mail.",
    ),
    (
        "js.err.date",
        "This date and time is not valid.",
        "Cette date et heure n'est pas valide.",
    ),
    (
        "js.err.dav",
        "This address is not valid (https://…).",
        "Cette adresse n'est pas valide (https://…).",
    ),
    (
        "js.err.dav_required",
        "Required for contacts, calendars and tasks.",
        "Obligatoire pour les contacts, agendas et tâches.",
    ),
    (
        "js.err.content",
        "Choose at least one kind of content.",
        "Choisissez au moins un type de contenu.",
    ),
    (
        "js.err.generic",
        "The service refused:",
        "Le service a refusé :",
    ),
    (
        "js.err.network",
        "The service could not be reached. Try again.",
        "Le service est injoignable. Réessayez.",
    ),
    (
        "js.err.notfound",
        "No migration with this ID for this account.",
        "Aucune migration avec cet identifiant pour ce compte.",
    ),
    (
        "js.err.busy",
        "A pass is running: stop it first.",
        "Une passe est en cours : arrêtez-la d'abord.",
    ),
    ("js.st.queued", "Waiting", "En attente"),
    ("js.st.running", "Running", "En cours"),
    ("js.st.stopped", "Stopped", "Arrêtée"),
    ("js.st.done", "Done", "Terminée"),
    ("js.st.failed", "Failed", "Échec"),
    ("js.st.incomplete", "Incomplete", "Incomplète"),
    (
        "js.items",
        "{n} item(s) migrated",
        "{n} élément(s) migré(s)",
    ),
    (
        "js.items_total",
        "{n} item(s) in the destination from this migration ({size})",
        "{n} élément(s) copiés par cette migration dans la destination ({size})",
    ),
    ("js.none", "None.", "Aucun."),
    ("mig.test", "Test the connection", "Tester la connexion"),
    (
        "mig.type.providers",
        "Known providers",
        "Fournisseurs connus",
    ),
    (
        "js.testing",
        "Logging in on both servers…",
        "Connexion aux deux serveurs…",
    ),
    (
        "js.test.ok",
        "Connected: login and password accepted.",
        "Connexion réussie : identifiant et mot de passe acceptés.",
    ),
    (
        "js.test.auth",
        "The server refused this login or password.",
        "Le serveur a refusé cet identifiant ou ce mot de passe.",
    ),
    (
        "js.test.unreachable",
        "The server cannot be reached at this address and port.",
        "Le serveur est injoignable à cette adresse et ce port.",
    ),
    (
        "js.test.tls",
        "The secure connection failed: check the server type and port.",
        "La connexion sécurisée a échoué : vérifiez le type de serveur et le port.",
    ),
    (
        "js.test.refused",
        "This address is not allowed by this service.",
        "Cette adresse n'est pas autorisée par ce service.",
    ),
    (
        "js.code.plaintext",
        "The password would cross the network unencrypted: choose a secure server type (IMAPS or STARTTLS).",
        "Le mot de passe passerait en clair sur le réseau : choisissez un type de serveur sécurisé (IMAPS ou STARTTLS).",
    ),
    (
        "js.code.quota",
        "The destination mailbox is full (quota reached).",
        "La boîte de destination est pleine (quota atteint).",
    ),
    (
        "js.code.file",
        "The file cannot be read: it is damaged or not of the expected kind.",
        "Le fichier est illisible : il est abîmé ou n'est pas du type attendu.",
    ),
    (
        "js.code.incomplete",
        "Some items could not be migrated: see the list below.",
        "Certains éléments n'ont pas pu être migrés : voir la liste ci-dessous.",
    ),
    (
        "js.code.credentials",
        "The passwords of this migration are no longer kept: create it again.",
        "Les mots de passe de cette migration ne sont plus conservés : créez-la à nouveau.",
    ),
    (
        "js.code.rate_limited",
        "Too many requests from your address: try again in a minute.",
        "Trop de requêtes depuis votre adresse : réessayez dans une minute.",
    ),
    (
        "js.test.dav",
        "Contacts and calendars:",
        "Contacts et agendas :",
    ),
    (
        "js.test.other",
        "The connection failed.",
        "La connexion a échoué.",
    ),
    (
        "js.items_of",
        "{n} of {total} item(s)",
        "{n} élément(s) sur {total}",
    ),
    ("js.rate", "{rate} item(s)/s", "{rate} élément(s)/s"),
    ("js.eta", "about {time} left", "environ {time} restant"),
    ("js.updated", "Updated at {time}", "Mis à jour à {time}"),
    (
        "js.stop.sent",
        "Stop requested: the pass stops at a safe point.",
        "Arrêt demandé : la passe s'arrête à un point sûr.",
    ),
    (
        "js.sync.sent",
        "Synchronisation started.",
        "Synchronisation lancée.",
    ),
    (
        "js.purge.confirm",
        "{n} item(s) will be deleted from the destination. This cannot be undone.",
        "{n} élément(s) seront supprimés de la destination. C'est irréversible.",
    ),
    (
        "js.purge.skipped",
        "{n} item(s) changed on the destination since will be left in place.",
        "{n} élément(s) modifiés depuis sur la destination seront laissés en place.",
    ),
    (
        "js.purge.done",
        "{n} item(s) deleted.",
        "{n} élément(s) supprimé(s).",
    ),
    (
        "js.purge.running",
        "Deleting the items… (this page follows it)",
        "Suppression des éléments en cours… (cette page la suit)",
    ),
    (
        "js.purge.failed",
        "The deletion failed:",
        "La suppression a échoué :",
    ),
    (
        "js.purge.nothing",
        "Nothing to delete from this sync point.",
        "Rien à supprimer à partir de ce point.",
    ),
    ("js.side.source", "Source server", "Serveur source"),
    (
        "js.side.destination",
        "Destination server",
        "Serveur de destination",
    ),
    ("js.kind.mail", "Mail", "E-mails"),
    ("js.kind.contacts", "Contacts", "Contacts"),
    ("js.kind.calendars", "Calendars", "Agendas"),
    ("js.kind.tasks", "Tasks", "Tâches"),
    ("js.all_kinds", "All content", "Tout le contenu"),
    // Project mode.
    ("pj.col.actions", "Actions", "Actions"),
    ("js.pj.stop", "Stop", "Arrêter"),
    ("js.pj.sync", "Synchronise", "Synchroniser"),
    (
        "js.pj.none",
        "No migration yet.",
        "Aucune migration pour l'instant.",
    ),
    ("js.st.paused", "Paused", "En pause"),
    ("js.st.scheduled", "Scheduled", "Programmée"),
    ("nav.project", "Projects", "Projets"),
    ("home.project.new", "Create a project", "Créer un projet"),
    ("home.project.login", "Open a project", "Ouvrir un projet"),
    ("pj.new.title", "Create a project", "Créer un projet"),
    (
        "pj.new.intro",
        "A project groups many mailboxes to move, with one ID and one password. Keep both: they are the only way back to it.",
        "Un projet regroupe de nombreuses boîtes à déménager, avec un identifiant et un mot de passe. Gardez-les : ce sont le seul moyen d'y revenir.",
    ),
    ("pj.name", "Project name", "Nom du projet"),
    ("pj.password", "Project password", "Mot de passe du projet"),
    (
        "pj.password.hint",
        "At least 10 characters, with an upper-case letter, a lower-case letter, a digit and another character.",
        "Au moins 10 caractères, avec une majuscule, une minuscule, un chiffre et un autre caractère.",
    ),
    ("pj.notify", "Contact address", "Adresse de contact"),
    (
        "pj.notify.hint",
        "The project ID is sent there.",
        "L'identifiant du projet y est envoyé.",
    ),
    (
        "pj.simultaneous",
        "Migrations at the same time (1–50)",
        "Migrations simultanées (1 à 50)",
    ),
    (
        "pj.src_dav",
        "Source CalDAV/CardDAV server",
        "Serveur CalDAV/CardDAV source",
    ),
    (
        "pj.dst_dav",
        "Destination CalDAV/CardDAV server",
        "Serveur CalDAV/CardDAV de destination",
    ),
    (
        "pj.dav.hint",
        "https://… — for contacts, calendars and tasks; left empty, it is found from each login's domain.",
        "https://… — pour les contacts, agendas et tâches ; vide, il est trouvé à partir du domaine de chaque identifiant.",
    ),
    (
        "pj.connections",
        "Connections per migration (1–16)",
        "Connexions par migration (1 à 16)",
    ),
    ("pj.create", "Create the project", "Créer le projet"),
    (
        "pj.created",
        "Your project is ready",
        "Votre projet est prêt",
    ),
    ("pj.created.id", "Project ID:", "Identifiant du projet :"),
    (
        "pj.created.keep",
        "Write it down with the password.",
        "Notez-le avec le mot de passe.",
    ),
    ("pj.login.title", "Open a project", "Ouvrir un projet"),
    ("pj.id", "Project ID", "Identifiant du projet"),
    ("pj.login", "Log in", "Se connecter"),
    ("pj.logout", "Log out", "Se déconnecter"),
    ("pj.dash.title", "Project", "Projet"),
    ("pj.tabs", "Project sections", "Sections du projet"),
    ("pj.tab.list", "Migrations", "Migrations"),
    ("pj.tab.add", "Add an account", "Ajouter un compte"),
    ("pj.tab.bulk", "Bulk creation", "Création en masse"),
    ("pj.tab.options", "Options", "Options"),
    ("pj.pause", "Pause all", "Tout mettre en pause"),
    ("pj.resume", "Resume all", "Tout reprendre"),
    ("pj.col.source", "Source", "Source"),
    ("pj.col.destination", "Destination", "Destination"),
    ("pj.col.status", "Status", "État"),
    ("pj.col.progress", "Progress", "Progression"),
    ("pj.col.copied", "Copied", "Copiés"),
    ("pj.col.failed", "Not copied", "Non copiés"),
    ("pj.col.track", "Tracking", "Suivi"),
    (
        "pj.none",
        "No migration yet.",
        "Aucune migration pour l'instant.",
    ),
    ("pj.source", "Source account", "Compte source"),
    (
        "pj.destination",
        "Destination account",
        "Compte de destination",
    ),
    ("pj.type", "Server type", "Type de serveur"),
    ("pj.host", "Server address", "Adresse du serveur"),
    ("pj.port", "Port", "Port"),
    (
        "pj.account.login",
        "Login (full address)",
        "Identifiant (adresse complète)",
    ),
    ("pj.account.password", "Password", "Mot de passe"),
    (
        "pj.account.admin",
        "Admin login (delegation, optional)",
        "Identifiant admin (délégation, facultatif)",
    ),
    ("pj.add", "Add and start", "Ajouter et démarrer"),
    (
        "pj.add.hint",
        "The servers of the last account added are kept for the next one.",
        "Les serveurs du dernier compte ajouté sont gardés pour le suivant.",
    ),
    (
        "pj.bulk.intro",
        "Upload a CSV (separated by ; or ,) or a spreadsheet (.xlsx, .xls, .ods) with one account per row. Check the preview, then create: rows with errors are left out.",
        "Envoyez un CSV (séparé par ; ou ,) ou un tableur (.xlsx, .xls, .ods) avec un compte par ligne. Vérifiez l'aperçu, puis créez : les lignes en erreur sont écartées.",
    ),
    ("pj.bulk.templates", "Templates:", "Modèles :"),
    ("pj.bulk.file", "File", "Fichier"),
    ("pj.bulk.preview", "Preview", "Aperçu"),
    (
        "pj.bulk.create",
        "Create the valid rows",
        "Créer les lignes valides",
    ),
    (
        "pj.options.save",
        "Save the options",
        "Enregistrer les options",
    ),
    ("js.pj.created", "Project created.", "Projet créé."),
    (
        "js.pj.mailed",
        "The ID was also sent to {addr}.",
        "L'identifiant a aussi été envoyé à {addr}.",
    ),
    (
        "js.pj.badlogin",
        "Wrong project ID or password.",
        "Identifiant de projet ou mot de passe incorrect.",
    ),
    (
        "js.pj.throttled",
        "Too many failed attempts. Wait a few minutes and try again.",
        "Trop d'essais manqués. Attendez quelques minutes et réessayez.",
    ),
    (
        "js.pj.weak",
        "At least 10 characters, with an upper-case letter, a lower-case letter, a digit and another character.",
        "Au moins 10 caractères, avec une majuscule, une minuscule, un chiffre et un autre caractère.",
    ),
    (
        "js.pj.expired",
        "Your session has ended. Log in again.",
        "Votre session a expiré. Reconnectez-vous.",
    ),
    ("js.pj.added", "Account added: {id}", "Compte ajouté : {id}"),
    (
        "js.pj.preview",
        "{valid} of {rows} rows are valid.",
        "{valid} lignes valides sur {rows}.",
    ),
    (
        "js.pj.bulkdone",
        "{created} migrations created.",
        "{created} migrations créées.",
    ),
    (
        "js.pj.rowerr",
        "Row {row}, {column}: {message}",
        "Ligne {row}, {column} : {message}",
    ),
    (
        "js.pj.rowerr.nocol",
        "Row {row}: {message}",
        "Ligne {row} : {message}",
    ),
    (
        "js.pj.nofile",
        "Choose a file first.",
        "Choisissez d'abord un fichier.",
    ),
    ("js.pj.saved", "Options saved.", "Options enregistrées."),
    (
        "js.pj.paused",
        "The project is paused.",
        "Le projet est en pause.",
    ),
    (
        "js.pj.active",
        "The project is running.",
        "Le projet est actif.",
    ),
    (
        "js.pj.summary",
        "{done} of {total} migrations done.",
        "{done} migrations terminées sur {total}.",
    ),
    ("home.file.go", "Import a file", "Importer un fichier"),
    ("nav.file", "From a file", "Depuis un fichier"),
    (
        "file.title",
        "Migrate from a file",
        "Migrer depuis un fichier",
    ),
    (
        "file.intro",
        "Send a PST, OST, ICS or VCF file, then choose the account it goes into. After a network cut or a page reload, choose the same file again: the upload goes on where it stopped.",
        "Envoyez un fichier PST, OST, ICS ou VCF, puis choisissez le compte où il doit aller. Après une coupure réseau ou un rechargement de la page, choisissez de nouveau le même fichier : l'envoi reprend là où il s'était arrêté.",
    ),
    (
        "file.noscript",
        "Sending a file needs JavaScript.",
        "L'envoi d'un fichier nécessite JavaScript.",
    ),
    ("file.step1", "1. The file", "1. Le fichier"),
    (
        "file.choose",
        "PST, OST, ICS or VCF file",
        "Fichier PST, OST, ICS ou VCF",
    ),
    ("file.drop", "Or drag it here.", "Ou glissez-le ici."),
    ("file.upload", "Send the file", "Envoyer le fichier"),
    ("file.progress", "Progress", "Progression"),
    (
        "file.step2",
        "2. The destination account",
        "2. Le compte de destination",
    ),
    (
        "file.dav",
        "CalDAV/CardDAV address (optional)",
        "Adresse CalDAV/CardDAV (facultative)",
    ),
    (
        "file.dav.hint",
        "Needed for contacts, calendars and tasks, and for .ics and .vcf files.",
        "Nécessaire pour les contacts, agendas et tâches, et pour les fichiers .ics et .vcf.",
    ),
    ("file.submit", "Start the import", "Lancer l'import"),
    (
        "js.up.progress",
        "{percent} % — {speed}/s — {left} left",
        "{percent} % — {speed}/s — reste {left}",
    ),
    (
        "js.up.resumed",
        "Going on with an earlier upload, from {percent} %.",
        "Reprise d'un envoi précédent, à partir de {percent} %.",
    ),
    (
        "js.up.retry",
        "Connection lost: trying again…",
        "Connexion perdue : nouvelle tentative…",
    ),
    ("js.up.done", "The file is sent.", "Le fichier est envoyé."),
    ("js.up.nofile", "Choose a file.", "Choisissez un fichier."),
    (
        "js.up.toolarge",
        "This file is too large for this service.",
        "Ce fichier est trop gros pour ce service.",
    ),
    ("js.up.failed", "The upload failed:", "L'envoi a échoué :"),
    (
        "js.file_keep_id",
        "Keep this ID: with the destination login, it lets you follow the import.",
        "Gardez cet identifiant : avec l'identifiant de destination, il permet de suivre l'import.",
    ),
    // "Sign in with …" (OAuth 2.0).
    (
        "oauth.signin",
        "Sign in with {provider}",
        "Se connecter avec {provider}",
    ),
    (
        "oauth.signed",
        "Signed in with {provider}.",
        "Connecté avec {provider}.",
    ),
    ("oauth.signout", "Sign out", "Se déconnecter"),
    (
        "oauth.title",
        "On to your provider…",
        "Direction votre fournisseur…",
    ),
    (
        "oauth.continue",
        "Continue to {provider}",
        "Continuer vers {provider}",
    ),
    (
        "oauth.err.denied",
        "The sign-in was declined at the provider: nothing was given to this service.",
        "La connexion a été refusée chez le fournisseur : rien n'a été transmis à ce service.",
    ),
    (
        "oauth.err.state",
        "This sign-in is not valid here (already used, or started in another browser): sign in again.",
        "Cette connexion n'est pas valable ici (déjà utilisée, ou commencée dans un autre navigateur) : reconnectez-vous.",
    ),
    (
        "oauth.err.expired",
        "The sign-in took too long and expired: sign in again.",
        "La connexion a pris trop de temps et a expiré : reconnectez-vous.",
    ),
    (
        "oauth.err.token",
        "The provider gave no token for this sign-in: try again, or use a password.",
        "Le fournisseur n'a pas donné de jeton pour cette connexion : réessayez, ou utilisez un mot de passe.",
    ),
    (
        "oauth.err.refused",
        "The provider refused this sign-in: try again, or use a password.",
        "Le fournisseur a refusé cette connexion : réessayez, ou utilisez un mot de passe.",
    ),
    (
        "oauth.err.provider",
        "This service cannot sign in with that provider.",
        "Ce service ne peut pas se connecter avec ce fournisseur.",
    ),
    (
        "trk.purge.oauth",
        "A destination you signed in to with a provider: confirm by signing in again.",
        "Une destination où vous vous êtes connecté via un fournisseur : confirmez en vous reconnectant.",
    ),
    (
        "js.err.signin",
        "Sign in with the provider (the button below), or choose another server type.",
        "Connectez-vous chez le fournisseur (le bouton ci-dessous), ou choisissez un autre type de serveur.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_in_both_languages_and_keys_unique() {
        let mut seen = std::collections::HashSet::new();
        for (k, en, fr) in MESSAGES {
            assert!(seen.insert(*k), "duplicate key {k}");
            assert!(!en.trim().is_empty(), "{k}: no English");
            assert!(!fr.trim().is_empty(), "{k}: no French");
        }
    }

    #[test]
    fn accept_language() {
        assert_eq!(
            Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"),
            Some(Lang::Fr)
        );
        assert_eq!(
            Lang::from_accept_language("de, en;q=0.5, fr;q=0.4"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("en;q=0.2, fr-CA;q=0.7"),
            Some(Lang::Fr)
        );
        assert_eq!(Lang::from_accept_language("fr;q=0, en-GB"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de, es"), None);
        assert_eq!(Lang::from_accept_language(""), None);
    }

    #[test]
    fn script_messages_cannot_close_the_script_element() {
        let j = Tr(Lang::Fr).js_json();
        assert!(!j.contains('<'));
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["st.done"], "Terminée");
    }
}
