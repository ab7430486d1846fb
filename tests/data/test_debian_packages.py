"""debian/copyright (DEP-5) parsing and the licence each installed file gets from it."""

from forensiccodec.data.debian_packages import NO_LICENCE, licence_for, parse_debian_copyright

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: wallpapers

Files: *
Copyright: 2020 Everyone
License: GPL-2+

Files: 16.04/bridge_by_someone.jpg
Copyright: 2018, Someone
           2019, Someone Else
License: CC-BY-SA-4.0

Files: nature/Aqua.jpg
Copyright: 2008, Charles
License: CC0-1.0

License: GPL-2+
 This program is free software.
"""


def test_debian_copyright_is_parsed_and_matched_per_file():
    stanzas = parse_debian_copyright(COPYRIGHT)
    assert stanzas[2]["Copyright"] == "2018, Someone\n2019, Someone Else"
    assert licence_for("usr/share/backgrounds/bridge_by_someone.jpg", stanzas) == (
        "CC-BY-SA-4.0", "2018, Someone; 2019, Someone Else")
    assert licence_for("usr/share/backgrounds/mate/nature/Aqua.jpg", stanzas)[0] == "CC0-1.0"
    assert licence_for("usr/share/backgrounds/other.jpg", stanzas)[0] == "GPL-2+"


def test_opencv_doc_licence_comes_from_the_upstream_samples_path():
    stanzas = parse_debian_copyright(
        "Files: *\nCopyright: 2000, Intel\nLicense: Apache-2.0\n\n"
        "Files: data/*\nCopyright: 2004, Cascades\nLicense: BSD-3-Clause\n"
    )
    # samples/data/x.jpg is not the upstream data/ folder (cascades): anchored, it takes Files: *.
    assert licence_for("samples/data/apple.jpg", stanzas, anchored=True) == ("Apache-2.0", "2000, Intel")
    assert licence_for("samples/data/apple.jpg", stanzas)[0] == "BSD-3-Clause"  # the loose match it avoids


def test_a_file_no_stanza_names_points_to_the_copyright_file():
    stanzas = parse_debian_copyright("Files: docs/*\nCopyright: 2001, Doc\nLicense: GFDL\n")
    assert licence_for("usr/share/backgrounds/x.jpg", stanzas) == (NO_LICENCE, "")
