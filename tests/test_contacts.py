"""Reading the files people export (CSV from an ATS, a CRM, Excel; vCard) into records."""

from __future__ import annotations

import codecs

import pytest

from primsync.contacts import decode_text, read_records


def rows(data: bytes, **kw):
    result = read_records(data, **kw)
    return [(r.line, r.kind, r.name, r.emails, r.exclude, r.external_id) for r in result.rows]


def problems(data: bytes, **kw) -> list[str]:
    return [p.text for p in read_records(data, **kw).problems]


def test_a_plain_csv():
    data = (
        b"kind,name,email\ncandidate,Lea Dubois,Lea@Mail.Example\n"
        b"client,Initech,jobs@initech.example\n"
    )
    assert rows(data) == [
        (2, "candidate", "Lea Dubois", ("lea@mail.example",), None, None),
        (3, "client", "Initech", ("jobs@initech.example",), None, None),
    ]


def test_utf8_with_a_bom_and_crlf():
    data = codecs.BOM_UTF8 + "kind,name,email\r\ncandidate,Zoë Brand,zoe@x.example\r\n".encode()
    assert rows(data) == [(2, "candidate", "Zoë Brand", ("zoe@x.example",), None, None)]
    assert read_records(data).encoding == "utf-8-sig"


def test_semicolons_and_windows_1252_with_accents():
    text = "Kind;Name;E-mail;Exclude;ID\nCandidate;Léa Müller-Søren;léa@bücher.example;oui;17\n"
    data = text.encode("cp1252")
    result = read_records(data)
    assert result.encoding == "windows-1252"
    assert rows(data) == [
        (2, "candidate", "Léa Müller-Søren", ("léa@xn--bcher-kva.example",), True, "17")
    ]


def test_tabs_in_utf16_as_excel_saves_unicode_text():
    data = "kind\tname\temail\ncontact\tJo\tjo@x.example\n".encode("utf-16")
    assert rows(data) == [(2, "contact", "Jo", ("jo@x.example",), None, None)]


def test_several_addresses_in_a_cell():
    cell = "lea@a.example; lea@b.example, <LEA@c.example> lea@a.example"
    data = f'kind,name,email\ncandidate,Lea,"{cell}"\n'.encode()
    assert rows(data)[0][3] == ("lea@a.example", "lea@b.example", "lea@c.example")


def test_the_kind_from_the_command_line_and_plurals():
    data = b"name,email\nLea,lea@a.example\n"
    assert problems(data) == ["line 1, column kind: no such column (the header has: name, email)"]
    assert rows(data, kind="candidate")[0][1] == "candidate"
    assert rows(b"kind,name,email\nClients,Initech,a@initech.example\n")[0][1] == "client"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"kind,full_name_x,email\ncandidate,Lea,lea@a.example\n",
         "line 1, column name: no such column (the header has: kind, full_name_x, email)"),
        (b"kind,name,email\ncandidate,Lea,lea@\n",
         "line 2, column email: 'lea@' is not an address"),
        (b"kind,name,email\ncandidate,Lea,lea at example\n",
         "line 2, column email: 'lea' is not an address"),
        (b"kind,name,email\ncandidate,,lea@a.example\n", "line 2, column name: no name"),
        (b"kind,name,email\ncandidate,Lea,\n", "line 2, column email: no address"),
        (b"kind,name,email\nboss,Lea,lea@a.example\n",
         "line 2, column kind: unknown kind 'boss' (candidate, client, employee or contact)"),
        (b"kind,name,email,exclude\ncandidate,Lea,lea@a.example,maybe\n",
         "line 2, column exclude: 'maybe' is not yes/no, true/false or 1/0"),
        (b"kind,name,email\ncandidate,Lea,lea@a.example\nclient,Acme,LEA@a.example\n",
         "line 3, column email: lea@a.example is also on line 2"),
        (b"id,kind,name,email\n7,candidate,Lea,lea@a.example\n7,client,Acme,b@a.example\n",
         "line 3, column id: '7' is also on line 2"),
    ],
)  # fmt: skip
def test_bad_lines_name_their_line_and_column(data, expected):
    assert problems(data) == [expected]


def test_line_numbers_count_quoted_newlines():
    data = b'kind,name,email\ncandidate,"Lea\nDubois",lea@a.example\ncandidate,Bo,bo@\n'
    assert problems(data) == ["line 4, column email: 'bo@' is not an address"]
    assert rows(data)[0][2] == "Lea Dubois"


def test_vcards_of_version_3_and_outlooks_2_1():
    data = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:L\xc3\xa9a Dubois\r\nN:Dubois;L\xc3\xa9a;;;\r\n"
        b"EMAIL;TYPE=INTERNET:lea@a.example\r\nitem1.EMAIL:lea@b.exa\r\n mple\r\n"
        b"CATEGORIES:Candidates,VIP\r\nUID:urn:uuid:1234\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=Windows-1252;ENCODING=QUOTED-PRINTABLE:M=FCller;J=\r\n"
        b"=FCrgen\r\nEMAIL;PREF;INTERNET:jm@c.example\r\nEND:VCARD\r\n"
    )
    assert rows(data, filename="contacts.vcf", kind="client") == [
        (1, "candidate", "Léa Dubois", ("lea@a.example", "lea@b.example"), None, "urn:uuid:1234"),
        (11, "client", "Jürgen Müller", ("jm@c.example",), None, None),
    ]


def test_a_vcard_without_address_is_refused_at_its_first_line():
    data = b"BEGIN:VCARD\nVERSION:4.0\nFN:Nobody\nEND:VCARD\n"
    assert problems(data) == ["line 1, column email: no address"]


def test_decode_text_reads_what_each_editor_saves():
    assert decode_text("é".encode()) == ("é", "utf-8")
    assert decode_text(codecs.BOM_UTF8 + "é".encode()) == ("é", "utf-8-sig")
    assert decode_text(b"\x81\xe9") == ("\x81é", "latin-1")
