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
    (
        "mig.type.pop3s",
        "POP3 with TLS (port 995)",
        "POP3 avec TLS (port 995)",
    ),
    (
        "mig.type.pop3starttls",
        "POP3 with STARTTLS (port 110)",
        "POP3 avec STARTTLS (port 110)",
    ),
    (
        "mig.type.pop3",
        "POP3 without encryption (port 110)",
        "POP3 sans chiffrement (port 110)",
    ),
    (
        "mig.type.pop3.hint",
        "POP3: the inbox only, copied into the destination's inbox. The old server is never changed.",
        "POP3 : la boîte de réception seulement, copiée dans celle de la destination. L'ancien serveur n'est jamais modifié.",
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
    ("trk.creds", "Change a password", "Changer un mot de passe"),
    (
        "trk.creds.hint",
        "A password that was wrong or has changed: give the new one. It is checked by logging in before it is kept; then Synchronise uses it.",
        "Un mot de passe erroné ou changé : saisissez le nouveau. Il est vérifié par une connexion avant d'être conservé ; Synchroniser l'utilise ensuite.",
    ),
    (
        "trk.creds.source",
        "New password of the source account",
        "Nouveau mot de passe du compte source",
    ),
    (
        "trk.creds.destination",
        "New password of the destination account",
        "Nouveau mot de passe du compte de destination",
    ),
    (
        "trk.creds.save",
        "Check and save",
        "Vérifier et enregistrer",
    ),
    (
        "js.creds.saved",
        "The new password is checked and saved: Synchronise to go on.",
        "Le nouveau mot de passe est vérifié et enregistré : synchronisez pour continuer.",
    ),
    (
        "js.creds.none",
        "Give a new password for the source, the destination or both.",
        "Saisissez un nouveau mot de passe pour la source, la destination ou les deux.",
    ),
    (
        "js.creds.refused",
        "The server refused this password: it was not saved.",
        "Le serveur a refusé ce mot de passe : il n'a pas été enregistré.",
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
        "Gardez cet identifiant : avec l'identifiant de connexion du compte source, il permet de suivre la migration.",
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
    ("js.sync", "Synchronise", "Synchroniser"),
    (
        "js.sync.hint",
        "Copies only what is new since the last sync point.",
        "Copie seulement ce qui est nouveau depuis le dernier point de synchronisation.",
    ),
    ("js.resume", "Resume", "Reprendre"),
    (
        "js.resume.hint",
        "Goes on where the last pass ended: copies what is not in the destination yet, nothing twice.",
        "Reprend là où la dernière passe s'est arrêtée : copie ce qui n'est pas encore dans la destination, rien en double.",
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
    (
        "js.st.sign_in",
        "Waiting for a sign-in",
        "En attente d'une connexion",
    ),
    (
        "trk.signin",
        "Sign in to start",
        "Connectez-vous pour commencer",
    ),
    (
        "trk.signin.hint",
        "This account's provider takes no password: its owner signs in with the provider, here, and the migration starts. passeur keeps the access the provider grants, never a password.",
        "Le fournisseur de ce compte n'accepte pas de mot de passe : son titulaire se connecte chez le fournisseur, ici, et la migration commence. passeur garde l'accès accordé par le fournisseur, jamais un mot de passe.",
    ),
    ("trk.signin.source", "Source:", "Source :"),
    ("trk.signin.destination", "Destination:", "Destination :"),
    (
        "trk.signin.go",
        "Start the migration",
        "Lancer la migration",
    ),
    (
        "js.signin.missing",
        "Sign in for each side listed above first.",
        "Connectez-vous d'abord pour chaque côté indiqué ci-dessus.",
    ),
    (
        "js.signin.sent",
        "Signed in: the migration is queued.",
        "Connecté : la migration est en file d'attente.",
    ),
    (
        "js.purge.signin",
        "This destination logs in through its provider: confirm by signing in again.",
        "Cette destination se connecte via son fournisseur : confirmez en vous reconnectant.",
    ),
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
        "js.up.type",
        "This service imports only .pst and .ost (Outlook), .ics, .ifb and .vcs (calendar) and .vcf (contacts) files.",
        "Ce service n'importe que des fichiers .pst et .ost (Outlook), .ics, .ifb et .vcs (agenda) et .vcf (contacts).",
    ),
    (
        "js.up.content",
        "This file's content is not that of an Outlook (PST/OST), calendar (iCalendar) or contacts (vCard) file: it was not sent.",
        "Le contenu de ce fichier n'est pas celui d'un fichier Outlook (PST/OST), d'agenda (iCalendar) ou de contacts (vCard) : il n'a pas été envoyé.",
    ),
    (
        "js.file_keep_id",
        "Keep this ID: with the destination login, it lets you follow the import.",
        "Gardez cet identifiant : avec l'identifiant de connexion du compte de destination, il permet de suivre l'import.",
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
    ("js.note.line", "line {n}", "ligne {n}"),
    // Item notes (the engine's words, in `crates/formats` and `crates/dav`): the English is
    // the pattern `crate::notes` matches a note against, its `{names}` what it takes from it.
    (
        "js.notek.input_ended_at",
        "the input ended before END:{comp} (BEGIN on line {at}); closed it there",
        "le fichier s'arrête avant END:{comp} (BEGIN ligne {at}) ; fermé à cet endroit",
    ),
    (
        "js.notek.input_ended",
        "the input ended before END:{comp}",
        "le fichier s'arrête avant END:{comp}",
    ),
    (
        "js.notek.skipped_end",
        "skipped line {line}: END:{comp} without its BEGIN",
        "ligne {line} ignorée : END:{comp} sans son BEGIN",
    ),
    (
        "js.notek.skipped_outside",
        "skipped line {line}: {prop} outside of a {comp}",
        "ligne {line} ignorée : {prop} hors d'un {comp}",
    ),
    (
        "js.notek.skipped",
        "skipped line {line}: {reason}",
        "ligne {line} ignorée : {reason}",
    ),
    (
        "js.notek.unknown_component",
        "skipped the unknown component {comp} (lines {from}-{to})",
        "composant inconnu {comp} ignoré (lignes {from} à {to})",
    ),
    (
        "js.notek.only_events",
        "only VEVENT, VTODO and VJOURNAL become calendar resources",
        "seuls VEVENT, VTODO et VJOURNAL deviennent des éléments d'agenda",
    ),
    (
        "js.notek.vtimezone_no_tzid",
        "skipped a VTIMEZONE without TZID",
        "VTIMEZONE sans TZID ignoré",
    ),
    (
        "js.notek.vtimezone_skipped",
        "skipped a VTIMEZONE: {reason}",
        "VTIMEZONE ignoré : {reason}",
    ),
    (
        "js.notek.vtimezone_note",
        "in the VTIMEZONE: {reason}",
        "dans le VTIMEZONE : {reason}",
    ),
    (
        "js.notek.uid_taken",
        "the UID is already used by a {comp}",
        "l'UID est déjà pris par un {comp}",
    ),
    (
        "js.notek.begin_in_card",
        "line {line}: BEGIN:VCARD came before END:VCARD (BEGIN on line {at}); closed the first card there",
        "ligne {line} : BEGIN:VCARD avant END:VCARD (BEGIN ligne {at}) ; la première fiche est fermée à cet endroit",
    ),
    (
        "js.notek.begin_before_end",
        "line {line}: BEGIN:{sub} came before END:{comp} (BEGIN on line {at}); closed {comp} there",
        "ligne {line} : BEGIN:{sub} avant END:{comp} (BEGIN ligne {at}) ; {comp} fermé à cet endroit",
    ),
    (
        "js.notek.end_before_end",
        "line {line}: END:{sub} came before END:{comp} (BEGIN on line {at}); closed {comp} there",
        "ligne {line} : END:{sub} avant END:{comp} (BEGIN ligne {at}) ; {comp} fermé à cet endroit",
    ),
    (
        "js.notek.utc_tzid",
        "dropped the TZID of the UTC time in {prop}",
        "TZID retiré de l'heure UTC de {prop}",
    ),
    (
        "js.notek.floating_time",
        "gave the floating {prop} the time zone {tz}",
        "le {prop} sans fuseau a reçu le fuseau {tz}",
    ),
    (
        "js.notek.escaped",
        "escaped bare commas or semicolons in {prop}",
        "virgules ou points-virgules échappés dans {prop}",
    ),
    (
        "js.notek.uid_generated",
        "generated UID {uid} (the component had none)",
        "UID {uid} créé (le composant n'en avait pas)",
    ),
    (
        "js.notek.uid_generated_card",
        "generated UID {uid} (the card had none)",
        "UID {uid} créé (la fiche n'en avait pas)",
    ),
    (
        "js.notek.kept_version",
        "kept the version of {what} on line {line} (SEQUENCE {seq}) over the one on line {other} (SEQUENCE {other_seq})",
        "gardé la version de {what} ligne {line} (SEQUENCE {seq}) plutôt que celle de la ligne {other} (SEQUENCE {other_seq})",
    ),
    (
        "js.notek.late_components",
        "more components of this UID came after it was emitted (outside the grouping window)",
        "d'autres composants de cet UID sont venus après son envoi (hors de la fenêtre de regroupement)",
    ),
    (
        "js.notek.windows_zone",
        "mapped Windows time zone {win} to {tz}",
        "fuseau Windows {win} traduit en {tz}",
    ),
    (
        "js.notek.vtimezone_added",
        "added a VTIMEZONE for {tz}",
        "VTIMEZONE ajouté pour {tz}",
    ),
    (
        "js.notek.vtimezone_unknown",
        "no VTIMEZONE is known for TZID {tz}",
        "aucun VTIMEZONE connu pour le TZID {tz}",
    ),
    (
        "js.notek.date_read",
        "read {prop} on line {line} as {value}",
        "{prop} ligne {line} lu comme {value}",
    ),
    (
        "js.notek.base64_dropped",
        "dropped {prop} on line {line}: its base64 data cannot be decoded",
        "{prop} ligne {line} retiré : ses données base64 sont illisibles",
    ),
    (
        "js.notek.no_version",
        "no VERSION: read as vCard 3.0",
        "pas de VERSION : lu comme vCard 3.0",
    ),
    (
        "js.notek.refused_repaired",
        "the destination refused it: HTTP {status} {reason}; it took it repaired",
        "la destination l'a refusé (HTTP {status} {reason}) ; elle l'a accepté réparé",
    ),
    (
        "js.notek.overrides_only",
        "the object had only overrides: the one for {rid} became the main {comp} (RECURRENCE-ID kept in X-PASSEUR-RECURRENCE-ID)",
        "l'objet n'avait que des exceptions : celle du {rid} est devenue le {comp} principal (RECURRENCE-ID gardé dans X-PASSEUR-RECURRENCE-ID)",
    ),
    (
        "js.notek.duplicate",
        "{comp} had {prop} more than once: kept the first, the other is in X-PASSEUR-{prop}",
        "{comp} avait {prop} plusieurs fois : le premier est gardé, l'autre est dans X-PASSEUR-{prop}",
    ),
    (
        "js.notek.dtend_and_duration",
        "{comp} had both DTEND and DURATION: kept DTEND, DURATION {value} is in X-PASSEUR-DURATION",
        "{comp} avait DTEND et DURATION : DTEND est gardé, DURATION {value} est dans X-PASSEUR-DURATION",
    ),
    (
        "js.notek.undated",
        "{comp} had no date at all: placed on {day}, the day it was imported (marked X-PASSEUR-UNDATED)",
        "{comp} n'avait aucune date : placé au {day}, jour de l'import (marqué X-PASSEUR-UNDATED)",
    ),
    (
        "js.notek.no_dtstart",
        "{comp} had no DTSTART: added DTSTART {value} taken from {from}",
        "{comp} n'avait pas de DTSTART : DTSTART {value} ajouté, pris de {from}",
    ),
    (
        "js.notek.rdate_periods",
        "RDATE periods became their start times (the ends or durations are in X-PASSEUR-RDATE-PERIODS: {value})",
        "les périodes RDATE sont devenues leurs heures de début (fins ou durées dans X-PASSEUR-RDATE-PERIODS : {value})",
    ),
    (
        "js.notek.inline_data",
        "the inline {prop} ({size} bytes of base64) is in X-PASSEUR-{prop}",
        "le {prop} intégré ({size} octets de base64) est dans X-PASSEUR-{prop}",
    ),
    (
        "js.notek.rrule_spaces",
        "removed the spaces in the RRULE: {rule}",
        "espaces retirés de la RRULE : {rule}",
    ),
    (
        "js.notek.rrule_kept",
        "the RRULE {rule} cannot be expanded by the destination: it is in X-PASSEUR-RRULE and only the first occurrence shows",
        "la destination ne sait pas dérouler la RRULE {rule} : elle est dans X-PASSEUR-RRULE et seule la première occurrence apparaît",
    ),
    (
        "js.notek.valarm_dropped",
        "left out a VALARM whose TRIGGER {trigger} is neither a duration nor a date-time (kept in X-PASSEUR-VALARM)",
        "VALARM retiré : son TRIGGER {trigger} n'est ni une durée ni une date-heure (gardé dans X-PASSEUR-VALARM)",
    ),
    (
        "js.notek.utc_and_zone",
        "{comp}'s {prop} {value} is in UTC and also named the zone {tz}: the zone was left out",
        "le {prop} {value} de {comp} est en UTC et nommait aussi le fuseau {tz} : le fuseau est retiré",
    ),
    (
        "js.notek.zone_added",
        "{comp}'s {prop} {value} had no time zone while {other} in {tz}: it is now in {tz} too",
        "le {prop} {value} de {comp} n'avait pas de fuseau alors que {other} en {tz} : il est maintenant en {tz} aussi",
    ),
    (
        "js.notek.bare_name",
        "line {line}: {prop} had no ':' and no value: written as {prop} with an empty value",
        "ligne {line} : {prop} n'avait ni « : » ni valeur : écrit comme {prop} avec une valeur vide",
    ),
    (
        "js.notek.unparsed",
        "line {line} could not be read as a property: kept in X-PASSEUR-UNPARSED",
        "la ligne {line} n'a pas pu être lue comme une propriété : gardée dans X-PASSEUR-UNPARSED",
    ),
    (
        "js.notek.profile",
        "PROFILE:{value} (a directory header the server cannot read) is kept in X-PASSEUR-PROFILE",
        "PROFILE:{value} (un en-tête d'annuaire que le serveur ne sait pas lire) est gardé dans X-PASSEUR-PROFILE",
    ),
    (
        "js.notek.org_commas",
        "ORG {value} had bare commas: escaped, as part of the name",
        "ORG {value} avait des virgules nues : échappées, comme faisant partie du nom",
    ),
    (
        "js.notek.sign_inside",
        "{comp} {sub}'s {prop} {value} had its sign inside: written {new}",
        "le {prop} {value} du {sub} de {comp} avait son signe à l'intérieur : écrit {new}",
    ),
    (
        "js.notek.date_form",
        "{comp}'s {prop} {value} was not in the form of its DTSTART ({form}): it is now {new}",
        "le {prop} {value} de {comp} n'avait pas la forme de son DTSTART ({form}) : il vaut maintenant {new}",
    ),
    (
        "js.notek.until_form",
        "the RRULE's UNTIL {until} was not in the form its DTSTART asks for: it is now {new}",
        "l'UNTIL {until} de la RRULE n'avait pas la forme que demande son DTSTART : il vaut maintenant {new}",
    ),
    (
        "js.notek.zone_standard",
        "time zone {tzid} became {tz} with a standard definition",
        "le fuseau {tzid} est devenu {tz}, avec une définition standard",
    ),
    (
        "js.notek.vtimezone_replaced",
        "the VTIMEZONE of {tz} was replaced by a standard definition",
        "le VTIMEZONE de {tz} a été remplacé par une définition standard",
    ),
    (
        "oauth.limited.title",
        "Too many sign-ins",
        "Trop de connexions",
    ),
    (
        "oauth.limited",
        "Too many sign-ins were started from your address in the last minutes. Wait ten minutes, then sign in again.",
        "Trop de connexions ont été commencées depuis votre adresse ces dernières minutes. Attendez dix minutes, puis reconnectez-vous.",
    ),
    ("oauth.back", "Back to the form", "Retour au formulaire"),
    (
        "oauth.back.title",
        "Back to your project…",
        "Retour à votre projet…",
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
