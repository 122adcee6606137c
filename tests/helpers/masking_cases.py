"""The masking rule as a table (docs/masking.md): (rule, input, masked form).

Every form of the rule must give the masked form: Python, the SQL in DuckDB and in
PostgreSQL, and dbt's compiled macros (tests/unit/test_masking.py,
tests/integration/test_masking_forms.py).
"""

from __future__ import annotations

SENTENCE = "来电13812345678，身份证360702199001011234,36070219900101123X；案号20250101000000000001"

CASES: list[tuple[str, str | None, str | None]] = [
    # identity numbers: region and last four kept, one star per hidden character
    ("mask_identity_number", "36070219900101123X", "360702********123X"),
    ("mask_identity_number", "3607 0219900101123x", "360702********123X"),
    ("mask_identity_number", "３６０７０２１９９００１０１１２３Ｘ", "360702********123X"),
    ("mask_identity_number", "360702\u3000199001011234", "360702********1234"),
    ("mask_identity_number", "360702900101123", "360702*****1123"),  # the old 15 digits
    ("mask_identity_number", "36070219900101123", "*****************"),  # 17: not a number
    ("mask_identity_number", "1234", "****"),
    ("mask_identity_number", "", ""),
    ("mask_identity_number", None, None),
    # USCCs: the same shape
    ("mask_uscc", "91360702MA35ABCD1X", "913607********CD1X"),
    ("mask_uscc", "91360702ma35abcd1x", "913607********CD1X"),
    ("mask_uscc", "9136", "****"),
    ("mask_uscc", None, None),
    # phones: first three and last four of 11 or more
    ("mask_phone", "13812345678", "138****5678"),
    ("mask_phone", "138 1234 5678", "138****5678"),
    ("mask_phone", "１３８１２３４５６７８", "138****5678"),
    ("mask_phone", "0797-8123456", "079*****3456"),
    ("mask_phone", "8123456", "*******"),  # shorter: nothing shown
    ("mask_phone", "", ""),
    ("mask_phone", None, None),
    # names, in characters
    ("mask_name", "张", "*"),
    ("mask_name", "李四", "李*"),
    ("mask_name", "张小三", "张*三"),
    ("mask_name", "欧阳小明", "欧**明"),
    ("mask_name", "买买提·艾力", "买****力"),
    ("mask_name", "𠈌", "*"),  # a rare character outside the BMP is one character
    ("mask_name", "𠈌三", "𠈌*"),
    ("mask_name", "王𠈌", "王*"),
    ("mask_name", "陈𠈌𫍲", "陈*𫍲"),
    ("mask_name", "葛\U000e0100小三", "葛*三"),  # a variation selector is no character
    ("mask_name", "\ue000\ue001", "\ue000*"),  # private-use characters of older systems
    ("mask_name", " 张三\u3000", "张*"),  # surrounding whitespace trimmed
    ("mask_name", "  ", ""),
    ("mask_name", "", ""),
    ("mask_name", None, None),
    # free text: stand-alone identity and mobile numbers masked, the rest kept
    (
        "mask_text",
        SENTENCE,
        "来电138****5678，身份证360702********1234,360702********123X；案号20250101000000000001",
    ),
    ("mask_text", "13812345678,13912345678", "138****5678,139****5678"),
    ("mask_text", "360702900101123号", "360702*****1123号"),
    ("mask_text", "3607021990010112345", "3607021990010112345"),  # 19 digits: no number
    ("mask_text", "12812345678", "12812345678"),  # no mobile prefix
    ("mask_text", "无号码", "无号码"),
    ("mask_text", None, None),
    # keys of unknown kind: masked only when they are a person's number
    ("mask_key", "36070219900101123X", "360702********123X"),
    ("mask_key", "3607021990 0101 123x", "360702********123X"),
    ("mask_key", "３６０７０２１９９００１０１１２３Ｘ", "360702********123X"),
    ("mask_key", "360702900101123", "360702*****1123"),
    ("mask_key", "13812345678", "138****5678"),
    ("mask_key", "36070420250102000000", "36070420250102000000"),  # a case number
    ("mask_key", "GD20250213000001", "GD20250213000001"),
    ("mask_key", "370", "370"),
    ("mask_key", None, None),
]
