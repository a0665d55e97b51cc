//! ISO 4217: the currency codes a price may be in.
//!
//! The list is ISO 4217's current one (with the funds and precious-metal codes, without XTS
//! "for testing" and XXX "no currency"), plus codes withdrawn lately that may still be on price
//! lists a while (ANG, CUC, HRK, SLL, ZWL). A code outside it is refused when a price is set;
//! events recorded earlier are read as they are.

/// Every accepted code.
const CODES: [&str; 181] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE",
    "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
    "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR",
    "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK",
    "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON",
    "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS",
    "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
    "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND",
    "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF",
    "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL", "CUC", "HRK",
];

/// Whether `code` is an ISO 4217 currency code (upper case, as the standard writes it).
pub fn is_iso_4217(code: &str) -> bool {
    CODES.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_three_upper_case_letters_each_once() {
        let mut seen = std::collections::BTreeSet::new();
        for code in CODES {
            assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(seen.insert(code), "{code} twice");
        }
    }

    #[test]
    fn currencies_in_use_are_accepted_and_made_up_or_lower_case_ones_are_not() {
        for code in ["EUR", "USD", "JPY", "GBP", "CHF", "SEK", "BRL", "INR"] {
            assert!(is_iso_4217(code), "{code}");
        }
        for code in ["XYZ", "ABC", "eur", "EU", "EURO", "", "XXX", "XTS"] {
            assert!(!is_iso_4217(code), "{code}");
        }
    }
}
