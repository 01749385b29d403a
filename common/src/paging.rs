//! Seed 000 §6.1's pagination block, the same for every paginated list.

use scout_proto::scout::common::v1::Pagination;

/// Page and size as asked: page from 1, size 1-100, 20 when not given.
pub fn page_and_size(page: i32, size: i32) -> (i32, i32) {
    (page.max(1), if size <= 0 { 20 } else { size.min(100) })
}

/// Where page `page` of `size` items stands among `total`.
pub fn pagination(page: i32, size: i32, total: i64) -> Pagination {
    let size = size.max(1);
    Pagination {
        page,
        page_size: size,
        total,
        total_pages: ((total + i64::from(size) - 1) / i64::from(size)) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_up() {
        assert_eq!(pagination(1, 10, 100).total_pages, 10);
        assert_eq!(pagination(1, 10, 101).total_pages, 11);
        assert_eq!(pagination(1, 10, 0).total_pages, 0);
    }
}
