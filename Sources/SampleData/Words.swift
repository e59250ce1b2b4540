/// Word lists for the sample data: names, places and phrases as they occur in WIR work.
enum Words {
    static let organisations: [(String, String)] = [
        ("Deutsch-Türkischer Freundeskreis", "Migrantenorganisation"),
        ("Afghanischer Kulturverein", "Migrantenorganisation"),
        ("Eritreische Gemeinde", "Migrantenorganisation"),
        ("Syrisch-Deutscher Verein", "Migrantenorganisation"),
        ("Ukrainischer Verein Wyschywanka", "Migrantenorganisation"),
        ("Kurdischer Elternverein", "Migrantenorganisation"),
        ("Polnischer Kulturverein", "Migrantenorganisation"),
        ("Internationaler Frauentreff", "Verein"),
        ("Kulturbrücke", "Verein"),
        ("Verein für Integration und Bildung", "Verein"),
        ("Sportverein Eintracht", "Verein"),
        ("Caritasverband", "Kirchlicher Träger"),
        ("Diakonisches Werk", "Kirchlicher Träger"),
        ("Arbeiterwohlfahrt Kreisverband", "Verband"),
        ("Deutsches Rotes Kreuz Kreisverband", "Verband"),
        ("Volkshochschule", "Bildungsträger"),
        ("Familienbildungsstätte", "Bildungsträger"),
        ("Gemeindeverwaltung", "Kommune"),
    ]

    static let projectsByFundingLine: [(String, [String], Double)] = [
        ("vielfaltsorientierte-oeffnung", ["Interkulturelle Öffnung der Kreisverwaltung", "Diversity-Check für Sportvereine", "Mehrsprachige Bürgerinformation"], 0.5),
        ("willkommens-und-anerkennungskultur", ["Willkommenspat*innen", "Sprachcafé", "Interkulturelles Nachbarschaftsfest", "Begegnungsgarten"], 0.5),
        ("integrationslotsen", ["Basisqualifizierung Integrationslots*innen", "Vertiefungsseminar Behördenwege", "Lotsensprechstunde"], 1.0),
        ("laiendolmetschende", ["Dolmetschpool Gesundheit", "Laiendolmetschen in Kitas und Schulen"], 1.0),
        ("kiv-strategien", ["Vielfaltsstrategie im Verbund", "Beteiligungswerkstatt Zusammenleben"], 1.0),
        ("migrantenorganisationen", ["Vereinscoaching für Migrantenorganisationen", "Netzwerk der Migrantenorganisationen"], 0.5),
        ("innovative-projekte", ["Mentoring für Ausbildung", "Theater der Vielfalt", "Antirassismus-Workshops an Schulen"], 0.5),
        ("digitale-medienkompetenz-frauen", ["Digitale Sprechstunde für Frauen", "Smartphone-Kurs für Mütter"], 1.0),
        ("mitsprache-deutsch4u", ["Deutsch im Alltag", "Alphabetisierungskurs", "Sprachkurs mit Kinderbetreuung"], 1.0),
    ]

    static let projectStatuses = ["geplant", "beantragt", "bewilligt", "laufend", "laufend", "abgeschlossen", "abgelehnt"]

    static let projectDescriptions = [
        "Niedrigschwelliges Angebot in Zusammenarbeit mit Migrantenorganisationen vor Ort.",
        "Begleitung neu Zugewanderter bei Behördengängen und Arztbesuchen.",
        "Qualifizierung Ehrenamtlicher und Aufbau eines Netzwerks im ländlichen Raum.",
        "Angebot für Frauen mit Migrationsgeschichte, mit Kinderbetreuung.",
        "Partizipativer Prozess mit Verwaltung, Vereinen und Bürger*innen.",
    ]

    /// Given and family names, grouped so a person's names fit together.
    static let names: [([String], [String])] = [
        (["Anna", "Lukas", "Sabine", "Jonas", "Marie", "Thomas"], ["Müller", "Schmidt", "Becker", "Weber", "Hoffmann", "Schäfer"]),
        (["Ayşe", "Mehmet", "Elif", "Mustafa", "Zeynep", "Emre"], ["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk"]),
        (["Fatima", "Ahmad", "Layla", "Omar", "Rania", "Yusuf"], ["Al-Hassan", "Haddad", "Khalil", "Nasser", "Saleh"]),
        (["Olena", "Andrii", "Iryna", "Dmytro", "Kateryna", "Oksana"], ["Kovalenko", "Shevchenko", "Bondarenko", "Tkachenko", "Melnyk"]),
        (["Zahra", "Farid", "Maryam", "Hamid", "Nasrin"], ["Ahmadi", "Hosseini", "Rahimi", "Karimi", "Sadeghi"]),
        (["Senait", "Yonas", "Helen", "Dawit", "Selam"], ["Tesfay", "Gebremedhin", "Haile", "Berhane"]),
        (["Agnieszka", "Piotr", "Katarzyna", "Tomasz"], ["Nowak", "Kowalski", "Wiśniewska", "Wójcik"]),
    ]

    static let languages = ["ar", "tr", "uk", "ru", "fa", "ps", "ti", "ku", "pl", "ro", "en", "fr", "so", "sq", "bg"]

    static let settings = [
        "Behördenbegleitung", "Arztbesuch", "Elterngespräch", "Schule", "Kita", "Wohnungssuche",
        "Jobcenter", "Beratungsstelle", "Sprachcafé",
    ]

    static let notes = [
        "Termin verschoben, zweiter Besuch nötig.",
        "Unterlagen vollständig abgegeben.",
        "Fahrtkosten erstattet.",
        "Sehr lange Wartezeit.",
    ]

    static let kommunen = [
        "Hofgeismar", "Wolfhagen", "Baunatal", "Homberg (Efze)", "Borken (Hessen)", "Eschwege", "Witzenhausen",
        "Alsfeld", "Lauterbach", "Schlitz", "Biedenkopf", "Stadtallendorf", "Hünfeld", "Lichtenfels", "Frankenberg (Eder)",
        "Michelstadt", "Erbach", "Büdingen", "Nidda", "Idstein", "Bad Schwalbach", "Weilburg", "Hadamar",
    ]
}
