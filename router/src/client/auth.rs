//! Credentials the client sends with `AUTH` on every connection it opens.

use super::error::{Error, Result};
use std::fmt;

/// A password (for the `default` user, as `--requirepass` sets) or a user
/// name and password (an ACL user). The client sends `AUTH [user]
/// password` first on every connection it opens, so pooled connections
/// and ones opened later are all authenticated.
///
/// Both are single tokens in the text protocol: [`Auth::password`] and
/// [`Auth::user`] refuse empty ones and ones containing whitespace.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    user: Option<String>,
    password: String,
}

impl Auth {
    /// `AUTH password`: the `default` user's password.
    pub fn password(password: impl Into<String>) -> Result<Self> {
        let password = password.into();
        check_token("password", &password)?;
        Ok(Self {
            user: None,
            password,
        })
    }

    /// `AUTH user password`: an ACL user.
    pub fn user(user: impl Into<String>, password: impl Into<String>) -> Result<Self> {
        let (user, password) = (user.into(), password.into());
        check_token("user name", &user)?;
        check_token("password", &password)?;
        Ok(Self {
            user: Some(user),
            password,
        })
    }

    /// The user name, if one was given.
    pub fn user_name(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The `AUTH` command line.
    pub(crate) fn command(&self) -> Vec<u8> {
        let mut line = b"AUTH ".to_vec();
        if let Some(user) = &self.user {
            line.extend_from_slice(user.as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(self.password.as_bytes());
        line.push(b'\n');
        line
    }
}

/// Never shows the password.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

fn check_token(what: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::InvalidAuth(format!("the {what} must not be empty")));
    }
    if s.contains(char::is_whitespace) {
        return Err(Error::InvalidAuth(format!(
            "the {what} contains whitespace; the text protocol takes it as one token"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_checks() {
        assert_eq!(
            Auth::password("s3cret").unwrap().command(),
            b"AUTH s3cret\n"
        );
        let auth = Auth::user("app", "pw").unwrap();
        assert_eq!(auth.command(), b"AUTH app pw\n");
        assert_eq!(auth.user_name(), Some("app"));
        assert!(!format!("{auth:?}").contains("pw\""), "{auth:?}");
        for bad in [
            Auth::password(""),
            Auth::password("a b"),
            Auth::user("", "x"),
        ] {
            assert!(matches!(bad, Err(Error::InvalidAuth(_))), "{bad:?}");
        }
        assert!(matches!(
            Auth::user("a\tb", "x"),
            Err(Error::InvalidAuth(_))
        ));
        assert!(matches!(Auth::user("a", "x\n"), Err(Error::InvalidAuth(_))));
    }
}
