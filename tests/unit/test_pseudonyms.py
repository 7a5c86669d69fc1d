from referral.services import pseudonyms


def test_generated_codes_are_valid_and_displayed_in_groups():
    code = pseudonyms.generate()
    assert pseudonyms.is_valid(code)
    shown = pseudonyms.display(code)
    assert len(shown) == 11 and shown[4] == "-" and shown[9] == "-"


def test_every_single_character_typo_is_refused():
    code = pseudonyms.generate()
    for position in range(len(code)):
        for char in pseudonyms.ALPHABET:
            if char == code[position]:
                continue
            typo = code[:position] + char + code[position + 1:]
            assert pseudonyms.normalize(typo) is None, (code, typo)


def test_lookup_forgives_case_dashes_and_confusables():
    payload = "01110001"
    code = payload + pseudonyms.check_character(payload)
    typed = f"oIl1-ooo1-{code[-1]}".lower()  # O for 0, I and L for 1, lower case
    assert pseudonyms.normalize(typed) == code
    assert pseudonyms.normalize(f" {code[:4]} {code[4:8]} {code[8]} ") == code


def test_lookup_refuses_wrong_lengths_and_foreign_characters():
    code = pseudonyms.generate()
    assert pseudonyms.normalize(code[:-1]) is None
    assert pseudonyms.normalize(code + "0") is None
    assert pseudonyms.normalize(code[:3] + "U" + code[4:]) is None


def test_codes_are_random_not_derived():
    codes = {pseudonyms.generate() for _ in range(2000)}
    assert len(codes) == 2000


def test_slip_codes_print_as_r_xxxx_xxxx_and_read_back_forgivingly():
    code = pseudonyms.generate_slip_code()
    shown = pseudonyms.display_slip_code(code)
    assert len(code) == 8 and shown == f"R-{code[:4]}-{code[4:]}"
    for typed in (shown, shown.lower(), code, f"r {code[:4]} {code[4:]}", code.lower()):
        assert pseudonyms.normalize_slip_code(typed) == code


def test_a_mistyped_slip_code_is_refused():
    code = pseudonyms.generate_slip_code()
    for position in range(len(code)):
        for char in pseudonyms.ALPHABET:
            if char != code[position]:
                typo = code[:position] + char + code[position + 1:]
                assert pseudonyms.normalize_slip_code(typo) is None
    assert pseudonyms.normalize_slip_code("R-1234") is None
    assert pseudonyms.normalize_slip_code(None) is None
